"""How fast the classify page answers: warm single-image prediction and cold model load.

    python bench/bench_predict.py [--repeats 50]

Goals (issue 5): one photo -> top-5 in <= 50 ms once the model is loaded (preprocessing + model call),
and <= 2 s to load a saved model. The model is the "default" preset's architecture (untrained weights
time the same as trained ones). The reference is `model.predict` on the same input in the same
process, the call a Keras tutorial would make; the ratio says how much calling the model directly saves.
Cold load runs in fresh processes, so nothing is cached: TensorFlow import and model load are timed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_PREDICT_MS = 50.0
GOAL_LOAD_S = 2.0
MODEL_NAME = "bench-default"

COLD_LOAD = """
import json, sys, time
start = time.perf_counter()
import cnn_core  # as in the app: it turns TensorFlow's oneDNN kernels on before TensorFlow's import
import keras  # TensorFlow comes with it; registry imports Keras lazily, so import it here to time apart
from cnn_core.models import registry
imported = time.perf_counter()
model = registry.load_model(sys.argv[1])
loaded = time.perf_counter()
import numpy as np
model(np.zeros((2, 32, 32, 3), dtype="float32"), training=False)
first = time.perf_counter()
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "first_s": first - loaded}))
"""


def median_ms(function, repeats: int) -> float:
    """Median wall time of `function()` in milliseconds, after two warm-up calls."""
    function()
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def photo(width: int = 1600, height: int = 1200):
    """A camera-sized synthetic photo (smooth gradients plus noise), as load_image would return it."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1)
    pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()

    os.environ["CNN_STUDIO_MODELS_DIR"] = tempfile.mkdtemp(prefix="bench-predict-")
    from cnn_core.classify import explain, inference
    from cnn_core.datasets.cifar import CIFAR10_CLASSES
    from cnn_core.models import registry
    from cnn_core.training.config import preset
    from cnn_core.training.model import build_model

    config = preset("default")
    model = build_model(config, num_classes=10)
    metadata = {"name": MODEL_NAME, "config": config.to_dict(), "class_names": CIFAR10_CLASSES,
                "dataset": "none (benchmark)", "test_accuracy": None, "created": "2000-01-01T00:00:00"}
    registry.save_model(model, MODEL_NAME, metadata)
    size_mb = registry.model_file(MODEL_NAME).stat().st_size / 2**20
    print(f"Model: 'default' preset, {model.count_params():,} parameters, {size_mb:.1f} MB file")

    # --- Warm prediction. ---
    model = registry.load_model(MODEL_NAME)
    image = photo()
    prepared = inference.prepare_image(image, "crop")

    def ours() -> None:
        inference.classify(model, [inference.prepare_image(image, "crop")], CIFAR10_CLASSES,
                           test_time_flip=config.test_time_flip)

    def reference() -> None:
        batch = prepared[None].astype(np.float32)
        if config.test_time_flip:
            batch = np.concatenate([batch, batch[:, :, ::-1]])
        model.predict(batch, verbose=0)

    preprocess_ms = median_ms(lambda: inference.prepare_image(image, "crop"), args.repeats)
    model_ms = median_ms(lambda: inference.probabilities(model, [prepared], config.test_time_flip), args.repeats)
    total_ms = median_ms(ours, args.repeats)
    reference_ms = median_ms(reference, args.repeats)
    grad_cam_ms = median_ms(lambda: explain.grad_cam(model, prepared), max(5, args.repeats // 5))
    print(f"\nWarm single image ({image.width}x{image.height} photo -> top-5), median of {args.repeats}:")
    print(f"  preprocess (crop + Lanczos)     {preprocess_ms:8.2f} ms")
    print(f"  model call (flip averaging={config.test_time_flip})  {model_ms:8.2f} ms")
    print(f"  total (preprocess + classify)   {total_ms:8.2f} ms   goal <= {GOAL_PREDICT_MS:.0f} ms: "
          f"{'met' if total_ms <= GOAL_PREDICT_MS else 'MISSED'}")
    print(f"  reference model.predict         {reference_ms:8.2f} ms   (model only; ratio reference/ours-model "
          f"{reference_ms / model_ms:.1f}x)")
    print(f"  Grad-CAM (for the page)         {grad_cam_ms:8.2f} ms")

    # --- Cold load, in fresh processes. ---
    runs = []
    for _ in range(args.cold_runs):
        output = subprocess.run([sys.executable, "-c", COLD_LOAD, MODEL_NAME], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parent.parent, env=dict(os.environ))
        runs.append(json.loads(output.stdout.strip().splitlines()[-1]))
    import_s = statistics.median(run["import_s"] for run in runs)
    load_s = statistics.median(run["load_s"] for run in runs)
    print(f"\nCold start, fresh process, median of {args.cold_runs}:")
    print(f"  import TensorFlow + Keras       {import_s:8.2f} s    (paid once per server process)")
    first_s = statistics.median(run["first_s"] for run in runs)
    print(f"  registry.load_model             {load_s:8.2f} s    goal <= {GOAL_LOAD_S:.0f} s: "
          f"{'met' if load_s <= GOAL_LOAD_S else 'MISSED'}")
    print(f"  first prediction after loading  {first_s:8.2f} s    (one-off set-up inside TensorFlow)")


if __name__ == "__main__":
    main()

"""How fast the classify page's probes answer on the shipped model: occlusion, a what-if curve, FGSM.

    python bench/bench_probes.py [--repeats 5]

Goal (issue 16): a 32x32 photo with an 8x8 patch at stride 2 (169 positions) maps in < 0.5 s on 2 cores.
The reference is the direct loop a tutorial would write, one model call per patch position, in the same
process; the ratio says what batching all positions into one call saves.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_OCCLUSION_S = 0.5
MODEL = Path(__file__).resolve().parent.parent / "models" / "cifar10-subset-best" / "model.keras"


def timed(function, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import keras

    from cnn_core.classify import adversarial, probes

    model = keras.saving.load_model(MODEL, safe_mode=True, compile=False)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)

    def direct_loop():
        copies, _, _ = probes.occluded_copies(image, 8, 2)
        return [keras.ops.convert_to_numpy(model(copy[None], training=False)) for copy in copies]

    batched = timed(lambda: probes.occlusion(model, image, 0, patch=8, stride=2), args.repeats)
    loop = timed(direct_loop, max(1, args.repeats // 2))
    curve = timed(lambda: probes.curve(model, image, "rotation"), args.repeats)
    fgsm = timed(lambda: adversarial.explain_photo(model, image, "fgsm", 2), args.repeats)
    print(json.dumps({"occlusion_s": round(batched, 3), "occlusion_goal_s": GOAL_OCCLUSION_S,
                      "direct_loop_s": round(loop, 3), "batched_speedup": round(loop / batched, 1),
                      "rotation_curve_s": round(curve, 3), "fgsm_photo_s": round(fgsm, 3)}))


if __name__ == "__main__":
    main()

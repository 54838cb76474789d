"""Where does a training step's time go, and how close is it to the machine's peak?

One preset's step is taken apart by switching one thing off at a time, each variant timed the same way in
this process (steady images/s over the epochs after the first, which traces): the full step; one step per
TensorFlow call instead of the job's steps_per_execution (Python and dispatch cost); no augmentation;
no batch norm; four times the batch size (fewer, larger steps); Keras' mixed_bfloat16 policy (timed only on
CPUs with avx512_bf16 or AMX, or with --bfloat16: emulated, it is slow); the forward pass alone (inference); and the data pipeline alone (gathering uint8 batches, no model).
Achieved GFLOP/s counts a training step as 3x the forward FLOPs (forward, then the gradients with
respect to inputs and to weights), as the layer table counts them; "% of peak" is against bench/machine.py.

Each variant's best of `--rounds` rounds is shown (one round's figures varied by +-15 % on these shared cores).

    python bench/bench_profile.py [--presets quick default] [--epochs 3] [--rounds 2] [--bfloat16] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cnn_core  # noqa: E402,F401  first: it turns TensorFlow's oneDNN kernels on, as in every training process

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.bench_training import EpochClock  # noqa: E402
from bench.machine import peak_gflops  # noqa: E402
from cnn_core.classify.inference import traced_forward  # noqa: E402
from cnn_core.datasets.base import hold_out_validation  # noqa: E402
from cnn_core.datasets.loading import load_dataset  # noqa: E402
from cnn_core.training.config import preset  # noqa: E402
from cnn_core.training.layers import flops_per_image  # noqa: E402
from cnn_core.training.model import build_model, compile_model, make_datasets  # noqa: E402
from cnn_core.training.pacing import estimate_step_seconds, steps_per_execution_for  # noqa: E402
from cnn_core.training.precision import BF16_FLAGS, cpu_flags_and_clock  # noqa: E402

SUBSET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"


def fit_images_per_second(dataset, config, epochs: int, steps_per_execution: int | None = None,
                          policy: str = "float32") -> tuple[float, int]:
    """(steady training images/s over epochs 2..E, steps_per_execution used) for `config` under `policy`."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(config.seed)
        train, _ = make_datasets(dataset, config, dataset.num_classes)
        steps_per_epoch = -(-len(dataset.y_train) // config.batch_size)
        model = build_model(config, dataset.num_classes)
        if steps_per_execution is None:  # as the job picks it
            steps_per_execution = steps_per_execution_for(estimate_step_seconds(model, config.batch_size),
                                                          steps_per_epoch)
        compile_model(model, config, steps_per_epoch, epochs, steps_per_execution=steps_per_execution)
        clock = EpochClock()
        model.fit(train, epochs=epochs, verbose=0, callbacks=[clock])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return len(dataset.y_train) * (epochs - 1) / (clock.epoch_ends[-1] - clock.epoch_ends[0]), steps_per_execution


def forward_images_per_second(dataset, config, repeats: int) -> float:
    """Inference images/s of the traced forward pass over the training images (after one traced warm-up)."""
    model = build_model(config, dataset.num_classes)
    forward = traced_forward(model)
    batches = [dataset.x_train[i : i + 256].astype(np.float32) for i in range(0, len(dataset.y_train), 256)]
    keras.ops.convert_to_numpy(forward(batches[0]))
    started = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            keras.ops.convert_to_numpy(forward(batch))
    return repeats * len(dataset.y_train) / (time.perf_counter() - started)


def pipeline_images_per_second(dataset, config, repeats: int) -> float:
    """Images/s of the training input pipeline alone (shuffle, gather, one-hot), with no model to feed."""
    train, _ = make_datasets(dataset, config, dataset.num_classes)
    for _ in train.take(1):
        pass
    started = time.perf_counter()
    for _ in range(repeats):
        for _ in train:
            pass
    return repeats * len(dataset.y_train) / (time.perf_counter() - started)


def profile_preset(name: str, dataset, epochs: int, bfloat16: bool) -> dict[str, float]:
    """Images/s of each variant of one preset's training step (see the module docstring), one round."""
    config = preset(name)
    full, steps = fit_images_per_second(dataset, config, epochs)
    results = {f"full step (steps_per_execution {steps})": full}
    results["one step per call"] = fit_images_per_second(dataset, config, epochs, steps_per_execution=1)[0]
    results["no augmentation"] = fit_images_per_second(
        dataset, preset_with(name, flip=False, shift_fraction=0.0, rotation_degrees=0.0), epochs, steps)[0]
    results["no batch norm"] = fit_images_per_second(dataset, preset_with(name, batch_norm=False), epochs, steps)[0]
    results["batch size x4 (fewer, larger steps)"] = fit_images_per_second(
        dataset, preset_with(name, batch_size=4 * config.batch_size), epochs)[0]
    if bfloat16:
        results["mixed_bfloat16"] = fit_images_per_second(dataset, config, epochs, steps, policy="mixed_bfloat16")[0]
    results["forward pass only"] = forward_images_per_second(dataset, config, repeats=epochs - 1)
    results["input pipeline only"] = pipeline_images_per_second(dataset, config, repeats=epochs - 1)
    return results


def best_of_rounds(name: str, dataset, epochs: int, bfloat16: bool, rounds: int) -> dict[str, float]:
    """Each variant's best round: on shared cores one steady epoch varied by +-15 % between rounds here."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for variant, rate in profile_preset(name, dataset, epochs, bfloat16).items():
            best[variant] = max(best.get(variant, 0.0), rate)
    return best


def preset_with(name: str, **changes):
    config = preset(name)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def print_profile(name: str, results: dict[str, float], peak: float | None) -> None:
    """Images/s, share of the full step's time, and GFLOP/s / % of peak for the two compute rows."""
    flops = flops_per_image(preset(name))
    full_name, full = next(iter(results.items()))
    print(f"\n{name}: {flops / 1e6:.0f} MFLOPs forward per image; each row's images/s and its time per image "
          "as a share of the full step's")
    for variant, rate in results.items():
        line = f"  {variant:<40} {rate:8.0f} img/s   {full / rate:6.2f} x the full step's time"
        work = 3 * flops if "step" in variant or variant == "mixed_bfloat16" else (
            flops if variant == "forward pass only" else 0)
        if work:
            gflops = rate * work / 1e9
            line += f"   {gflops:6.1f} GFLOP/s" + (f" ({100 * gflops / peak:4.1f} % of peak)" if peak else "")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SUBSET))
    parser.add_argument("--presets", nargs="+", default=["quick", "default"])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (the first, which traces, is not timed)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all variants; each variant's best is shown")
    parser.add_argument("--bfloat16", action="store_true", help="time mixed_bfloat16 even without bf16 instructions "
                        "(emulated it was 10x slower than float32 on an AVX2 EPYC)")
    args = parser.parse_args()
    seed = preset("seed")
    dataset = hold_out_validation(load_dataset(args.data), seed.validation_fraction, seed.seed)
    peak, machine = peak_gflops()
    bfloat16 = args.bfloat16 or any(flag in cpu_flags_and_clock()[1] for flag in BF16_FLAGS)
    print(f"data: {dataset.source}, {len(dataset.y_train)} training images; {machine}")
    for name in args.presets:
        print_profile(name, best_of_rounds(name, dataset, args.epochs, bfloat16, args.rounds), peak)


if __name__ == "__main__":
    main()

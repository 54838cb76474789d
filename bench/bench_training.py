"""Does streaming live metrics slow training down? The app's training job against plain `model.fit`.

All train the same model on the same data in this process, with validation on the same held-out
validation split each epoch (10 % of the training images, as the job holds out for its live validation curve):

- job: `cnn_core.training.run_training`, i.e. steps_per_execution from the speed probe, the LiveMetrics
  callback (batch events, Stop checks, best weights, throttled checkpoints) and events.jsonl writes;
- plain: `model.fit(train, validation_data=test)` with Keras defaults (one step per call, no callback
  of ours, so Keras dispatches its own batch hooks asynchronously): what a tutorial would write;
- plain-k: the same, compiled with the job's steps_per_execution: isolates what streaming costs.

The first epoch traces the graph, so throughput is measured over epochs 2..E ("steady"); the whole-fit
figure (tracing included) is printed too. The three alternate for several rounds; the best round of
each (least disturbed by other processes on shared cores), the medians, and images per CPU-second
(process time, far less sensitive to other processes than wall time) are compared.
Goal: job / plain ≥ 0.97 (and job / plain-k close to 1). Each kind's best round is also given as achieved
GFLOP/s (a training step counted as 3x the forward FLOPs) and as a share of this CPU's peak (bench/machine.py);
bench/bench_profile.py takes a step apart to show where the rest goes.

    python bench/bench_training.py [--presets seed quick] [--epochs 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cnn_core  # noqa: E402,F401  first: it turns TensorFlow's oneDNN kernels on, as in every training process

# isort: split
import keras  # noqa: E402

from bench.machine import peak_gflops  # noqa: E402
from cnn_core.datasets.base import hold_out_validation  # noqa: E402
from cnn_core.datasets.loading import load_dataset  # noqa: E402
from cnn_core.training.config import preset  # noqa: E402
from cnn_core.training.layers import flops_per_image  # noqa: E402
from cnn_core.training.model import build_model, compile_model, make_datasets  # noqa: E402

SUBSET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"


class EpochClock(keras.callbacks.Callback):
    """Epoch boundaries only: no batch hook, so Keras keeps its batch dispatch asynchronous."""

    def on_train_begin(self, logs=None):
        self.begin, self.epoch_ends, self.cpu_ends = time.perf_counter(), [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())


def plain_fit(dataset, config, epochs: int, steps_per_execution: int = 1) -> tuple[float, float, float]:
    """(steady images/s over epochs 2..E, whole-fit images/s, steady images per CPU second) of model.fit."""
    keras.utils.set_random_seed(config.seed)
    train, test = make_datasets(dataset, config, dataset.num_classes)  # test: the validation split here
    steps_per_epoch = -(-len(dataset.y_train) // config.batch_size)
    model = build_model(config, dataset.num_classes)
    compile_model(model, config, steps_per_epoch, epochs, steps_per_execution=steps_per_execution)
    clock = EpochClock()
    model.fit(train, validation_data=test, epochs=epochs, verbose=0, shuffle=False, callbacks=[clock])
    images = len(dataset.y_train)
    steady = images * (epochs - 1) / (clock.epoch_ends[-1] - clock.epoch_ends[0])
    whole = images * epochs / (clock.epoch_ends[-1] - clock.begin)
    return steady, whole, images * (epochs - 1) / (clock.cpu_ends[-1] - clock.cpu_ends[0])


def job_fit(data: str, config, epochs: int, folder: Path) -> tuple[float, float, float, int]:
    """(steady images/s, whole-fit images/s, steady images per CPU second, steps_per_execution) of the job."""
    os.environ["CNN_STUDIO_RUNS_DIR"] = str(folder / "runs")
    os.environ["CNN_STUDIO_MODELS_DIR"] = str(folder / "models")
    from cnn_core.training import launch, runs

    # A fixed epoch count, like the plain fits: a preset's time budget would add calibration and re-plans.
    config.epochs, config.time_budget_seconds = epochs, 0.0
    run_id = runs.create_run(config.to_dict(), launch.make_request(config, data, "bench"))
    events: list[dict] = []

    def record(event: dict) -> None:  # called in the training thread as each event is written
        events.append({**event, "cpu": time.process_time()})

    launch.run_training(run_id, on_event=record)
    start = next(event for event in events if event["type"] == "start")
    epoch_events = [event for event in events if event["type"] == "epoch"]
    images = start["train_images"]
    steady = images * (epochs - 1) / (epoch_events[-1]["elapsed"] - epoch_events[0]["elapsed"])
    whole = images * epochs / (epoch_events[-1]["elapsed"] - start["elapsed"])
    per_cpu = images * (epochs - 1) / (epoch_events[-1]["cpu"] - epoch_events[0]["cpu"])
    return steady, whole, per_cpu, start["steps_per_execution"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SUBSET))
    parser.add_argument("--presets", nargs="+", default=["seed", "quick"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dataset = hold_out_validation(load_dataset(args.data), preset("seed").validation_fraction, preset("seed").seed)
    peak, machine = peak_gflops()
    print(f"data: {dataset.source}; {args.epochs} epochs, {args.rounds} alternating rounds, medians\n{machine}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.presets:
            results: dict[str, list[tuple[float, float, float]]] = {"job": [], "plain": [], "plain-k": []}
            for _ in range(args.rounds):
                *job, steps_per_execution = job_fit(args.data, preset(name), args.epochs, Path(folder))
                results["job"].append(tuple(job))
                results["plain"].append(plain_fit(dataset, preset(name), args.epochs))
                results["plain-k"].append(plain_fit(dataset, preset(name), args.epochs, steps_per_execution))
            best = {kind: max(r[0] for r in runs) for kind, runs in results.items()}
            steady = {kind: statistics.median(r[0] for r in runs) for kind, runs in results.items()}
            whole = {kind: statistics.median(r[1] for r in runs) for kind, runs in results.items()}
            per_cpu = {kind: statistics.median(r[2] for r in runs) for kind, runs in results.items()}
            print(f"{name} (steps_per_execution {steps_per_execution}), steady images/s over epochs 2..{args.epochs}:")
            work = 3 * flops_per_image(preset(name)) / 1e9  # GFLOPs of training on one image
            for kind in results:
                rounds = ", ".join(f"{r[0]:.0f}" for r in results[kind])
                share = f" = {100 * best[kind] * work / peak:.0f} % of peak" if peak else ""
                print(f"  {kind:8s} best {best[kind]:7.0f}, median {steady[kind]:7.0f} img/s, "
                      f"median {per_cpu[kind]:6.0f} img per CPU-s  (rounds: {rounds}); "
                      f"best {best[kind] * work:.1f} GFLOP/s{share}")
            for reference in ("plain", "plain-k"):
                print(f"  job / {reference:8s} best {best['job'] / best[reference]:.3f}, "
                      f"median {steady['job'] / steady[reference]:.3f}, "
                      f"per CPU-second {per_cpu['job'] / per_cpu[reference]:.3f}, "
                      f"median whole fit incl. tracing {whole['job'] / whole[reference]:.3f}")

if __name__ == "__main__":
    main()

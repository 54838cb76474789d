"""How good are the presets? Train seed, quick and default on the CIFAR-10 subset and compare.

Each preset trains through the app's own training job (`cnn_core.training.run_training`: speed probe,
time-budget calibration, live metrics, best-epoch restore, test evaluation with test-time flip when the
preset asks for it, registry save) into throw-away folders, on the 5,085 training images of the subset,
and is scored on its 509 test images. The seed preset (the tutorial's model) is the reference run in
this process: the other presets print their time and accuracy next to it.

Printed per run: whole-run seconds (data loading, calibration, training, evaluation and saving; not the
one-off TensorFlow import), seconds in `fit`, training images/s (validation excluded), CPU seconds of
this process (`os.times`: a machine shared with other work inflates wall time, much less CPU time),
epochs and test accuracy. The goals (issue 4): quick ≥ 60 % within 30 s, default ≥ 75 % within 180 s,
on 2 CPU cores. The 509 test images make accuracy uncertain by about ±2 points: use several seeds.

    python bench/bench_recipe.py [--presets seed quick default] [--seeds 0 1] [--data PATH]
                                 [--time-budget SECONDS] [--epochs N]
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

SUBSET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"

# Measured on this machine class (2 cores, TF 2.21 CPU) on the same subset; from issue 4.
BASELINES = [
    ("the seed's model, 10 epochs, no augmentation", 26.0, 0.516),
    ("3 VGG blocks 32-64-128 + BatchNorm, flip+translate, AdamW + cosine, 20 epochs", 386.0, 0.715),
]
GOALS = {"quick": (30.0, 0.60), "default": (180.0, 0.75)}  # (seconds at most, accuracy at least)


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    times = os.times()
    return times.user + times.system


def train_preset(name: str, seed: int, data: str, folder: Path, time_budget: float | None, epochs: int | None) -> dict:
    """Train one preset through the app's training job; returns the measured figures."""
    os.environ["CNN_STUDIO_RUNS_DIR"] = str(folder / "runs")
    os.environ["CNN_STUDIO_MODELS_DIR"] = str(folder / "models")
    from cnn_core.training import launch, runs
    from cnn_core.training.config import preset

    config = preset(name)
    config.seed = seed
    if epochs is not None:
        config.epochs, config.time_budget_seconds = epochs, 0.0
    if time_budget is not None and name != "seed":
        config.time_budget_seconds = time_budget
    run_id = runs.create_run(config.to_dict(), launch.make_request(config, data, f"bench-{name}-{seed}"))
    events: list[dict] = []
    cpu_before, started = cpu_seconds(), time.monotonic()
    summary = launch.run_training(run_id, on_event=events.append, started=started)
    cpu = cpu_seconds() - cpu_before
    start = next(event for event in events if event["type"] == "start")
    epoch_events = [event for event in events if event["type"] == "epoch"]
    return {
        "preset": name,
        "seed": seed,
        "epochs": summary["epochs_completed"],
        "budget": config.time_budget_seconds,
        "seconds": summary["seconds"],
        "fit_seconds": epoch_events[-1]["elapsed"] - start["elapsed"],
        "cpu_seconds": cpu,
        "images_per_second": summary["images_per_second"],
        "accuracy": summary["test_accuracy"],
        "validation_accuracy": summary.get("validation_accuracy"),
        "flip": config.test_time_flip,
    }


def print_results(results: list[dict]) -> None:
    """One line per run, then per preset the medians and their ratio to the seed preset."""
    print(f"\n{'preset':<8} {'seed':>4} {'epochs':>6} {'budget':>6} {'run s':>7} {'fit s':>7} {'CPU s':>7} "
          f"{'img/s':>7} {'val acc':>8} {'test acc':>9}")
    for r in results:
        budget = f"{r['budget']:g}" if r["budget"] else "-"
        flip = " (flip)" if r["flip"] else ""
        print(f"{r['preset']:<8} {r['seed']:>4} {r['epochs']:>6} {budget:>6} {r['seconds']:>7.1f} "
              f"{r['fit_seconds']:>7.1f} {r['cpu_seconds']:>7.1f} {r['images_per_second']:>7.0f} "
              f"{r['validation_accuracy'] or 0:>8.1%} {r['accuracy']:>8.1%}{flip}")

    medians = {}
    for name in dict.fromkeys(r["preset"] for r in results):
        runs = [r for r in results if r["preset"] == name]
        medians[name] = {key: statistics.median(r[key] for r in runs) for key in ("seconds", "cpu_seconds", "accuracy")}
    reference = medians.get("seed")
    print("\nmedians over seeds" + (" (ratios: against the seed preset trained in this process)" if reference else ""))
    for name, m in medians.items():
        line = f"  {name:<8} {m['seconds']:7.1f} s  {m['cpu_seconds']:7.1f} CPU s  {m['accuracy']:6.1%}"
        if reference and name != "seed":
            line += (f"   time x{m['seconds'] / reference['seconds']:.2f}, "
                     f"accuracy {100 * (m['accuracy'] - reference['accuracy']):+.1f} points")
        if name in GOALS:
            seconds, accuracy = GOALS[name]
            met = m["seconds"] <= seconds and m["accuracy"] >= accuracy
            line += f"   goal ≤ {seconds:g} s and ≥ {accuracy:.0%}: {'met' if met else 'NOT met'}"
        print(line)
    print("\nbaselines (issue 4, same machine class and subset; not re-run here)")
    for text, seconds, accuracy in BASELINES:
        print(f"  {text}: {seconds:g} s, {accuracy:.1%}")
    # Training keeps every core busy, so this benchmark alone shows a load of about the core count.
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"\nload average now: {load:.1f} on {cores} cores (this benchmark itself accounts for ~{cores})"
          + ("  -- other work is running; wall times are inflated, compare CPU seconds" if load > cores + 1 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["seed", "quick", "default"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--data", default=str(SUBSET), help="cifar-10-batches-py folder (default: the shared subset)")
    parser.add_argument("--time-budget", type=float, help="override every non-seed preset's time budget (seconds)")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead (turns time budgets off)")
    args = parser.parse_args()
    if not (Path(args.data) / "batches.meta").exists():
        sys.exit(f"CIFAR-10 batches not found at {args.data}; pass --data PATH/cifar-10-batches-py")

    import keras  # noqa: F401  (imported once, before any timing: the runs measure training, not the import)

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp:
        for name in args.presets:
            for seed in args.seeds:
                folder = Path(tmp) / f"{name}-{seed}"
                result = train_preset(name, seed, args.data, folder, args.time_budget, args.epochs)
                print(f"{name}, seed {seed}: {result['accuracy']:.1%} in {result['seconds']:.1f} s "
                      f"({result['epochs']} epochs, {result['images_per_second']:.0f} img/s, {result['cpu_seconds']:.0f} CPU s)",
                      flush=True)
                results.append(result)
    print_results(results)


if __name__ == "__main__":
    main()

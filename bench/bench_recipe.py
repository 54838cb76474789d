"""How good are the presets? Each one trained by the app's own command, timed whole, side by side.

Every run is `python -m cnn_core train --preset NAME` in a child process (TensorFlow's import, data loading,
time-budget calibration, training, the test split scored once, saving: the whole command, as a learner runs
it), into throw-away folders, on the 5,085 training images of the subset (10 % held out to validate on),
scored on its 509 test images. The seed preset (the tutorial's model, 10 epochs) is the reference trained
in the same benchmark: the other presets print their time and accuracy next to it.

Printed per run: whole-command seconds, CPU seconds of the command (its children's user + system time:
other work on the machine inflates wall time, much less CPU time), epochs, training images/s and the
GFLOP/s they mean (3 x the forward FLOPs per image) with the % of this machine's peak (bench/machine.py),
peak resident memory of the training process (Streamlit Community Cloud gives 690 MB-2.7 GB; goal
<= 1.5 GB), validation and test accuracy, and the corruption suite the run scored on the test split (its saved
metadata: noise 4 and 8, blur 1, JPEG 30, contrast 0.6 and their mean, test-time flip off). The goals (issue 17): quick >= 70 % in 30 s, default >= 80 % in
180 s, best >= 84 % in 900 s, on 2 CPU cores, median of 2 seeds. 509 test images make one accuracy
uncertain by about +-2 points.

    python bench/bench_recipe.py [--presets seed quick default best] [--seeds 0 1] [--data PATH]
                                 [--time-budget SECONDS] [--epochs N] [--set '{"convs_per_block": 1}']
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # helpers.memory: the same sampler as the load test

from bench.machine import peak_gflops  # noqa: E402
from cnn_core.training.config import TrainConfig  # noqa: E402
from cnn_core.training.layers import flops_per_image  # noqa: E402
from cnn_core.training.progressive import epoch_side  # noqa: E402

from helpers.memory import PeakMemory  # noqa: E402

SUBSET = ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"
GOALS = {"quick": (30.0, 0.70), "default": (180.0, 0.80), "best": (900.0, 0.84)}  # (seconds at most, accuracy at least)
GOAL_PEAK_BYTES = 1.5 * 2**30


def children_cpu_seconds() -> float:
    """User + system CPU time of this process's finished children (0 on Windows)."""
    times = os.times()
    return times.children_user + times.children_system


def train_command(name: str, seed: int, data: str, folder: Path, args: argparse.Namespace) -> list[str]:
    """The `python -m cnn_core train` command line for one preset and seed (settings through a --config file)."""
    overrides = folder / "settings.json"
    overrides.write_text(json.dumps({**(json.loads(args.set) if args.set and name != "seed" else {}), "seed": seed}))
    time_budget, epochs = args.time_budget, args.epochs
    command = [sys.executable, "-m", "cnn_core", "train", "--data", data, "--preset", name,
               "--config", str(overrides), "--name", "bench"]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if time_budget is not None and name != "seed":
        command += ["--time-budget", str(time_budget)]
    return command


def train_preset(name: str, seed: int, data: str, folder: Path, args: argparse.Namespace) -> dict:
    """Run one training command, timed whole, its peak memory sampled; the figures from its saved metadata."""
    folder.mkdir(parents=True)
    env = {**os.environ, "CNN_STUDIO_RUNS_DIR": str(folder / "runs"), "CNN_STUDIO_MODELS_DIR": str(folder / "models"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = train_command(name, seed, data, folder, args)
    cpu_before, started = children_cpu_seconds(), time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(process.pid, interval=0.1)
    memory.start()
    _, errors = process.communicate(timeout=3 * 3600)
    seconds = time.monotonic() - started
    memory.stop()
    if process.returncode != 0:
        sys.exit(f"{name}, seed {seed}: the command failed ({process.returncode}):\n{errors[-3000:]}")
    metadata = json.loads((folder / "models" / "bench" / "metadata.json").read_text())
    return {
        "preset": name, "seed": seed, "epochs": metadata["epochs_trained"],
        "budget": metadata["config"]["time_budget_seconds"], "seconds": seconds,
        "cpu_seconds": children_cpu_seconds() - cpu_before, "images_per_second": metadata["images_per_second"],
        "gflops": metadata["images_per_second"] * 3 * trained_flops_per_image(metadata) / 1e9,
        "peak_bytes": memory.peak, "accuracy": metadata["test_accuracy"],
        "validation_accuracy": metadata.get("validation_accuracy"), "precision": metadata.get("precision"),
        "robustness": metadata.get("robustness") or {},
    }


def trained_flops_per_image(metadata: dict) -> float:
    """Forward FLOPs of one training image, on average over the run's epochs (progressive resizing's shrunk
    epochs cost their share of the pixels; the phases as planned for the epochs trained)."""
    config = TrainConfig.from_dict(metadata["config"])
    if not config.progressive_resizing:
        return flops_per_image(config)
    epochs = metadata["epochs_trained"]
    shares = [(epoch_side(epoch, epochs, 32) / 32) ** 2 for epoch in range(epochs)]
    return flops_per_image(config) * sum(shares) / len(shares)


ROBUSTNESS_COLUMNS = ("noise_4", "noise_8", "blur_1", "jpeg_30", "contrast_0.6", "mean")


def robustness_text(robustness: dict) -> str:
    """The run's corruption accuracies on the test split, in ROBUSTNESS_COLUMNS' order ("-" where not recorded)."""
    return " ".join(f"{robustness[name]:>7.1%}" if isinstance(robustness.get(name), float) else f"{'-':>7}"
                    for name in ROBUSTNESS_COLUMNS)


def print_runs(results: list[dict], peak: float | None) -> None:
    """One line per run."""
    print(f"\n{'preset':<8} {'seed':>4} {'epochs':>6} {'budget':>6} {'run s':>7} {'CPU s':>7} {'img/s':>6} "
          f"{'GFLOP/s':>8} {'peak RSS':>9} {'val acc':>8} {'test acc':>9} "
          + " ".join(f"{name[:7]:>7}" for name in ROBUSTNESS_COLUMNS))
    for r in results:
        budget = f"{r['budget']:g}" if r["budget"] else "-"
        share = f" ({100 * r['gflops'] / peak:.0f} %)" if peak else ""
        validation = "-" if r["validation_accuracy"] is None else f"{r['validation_accuracy']:.1%}"  # none held out
        print(f"{r['preset']:<8} {r['seed']:>4} {r['epochs']:>6} {budget:>6} {r['seconds']:>7.1f} {r['cpu_seconds']:>7.1f} "
              f"{r['images_per_second']:>6.0f} {r['gflops']:>5.1f}{share} {r['peak_bytes'] / 2**20:>6.0f} MB "
              f"{validation:>8} {r['accuracy']:>8.1%} {robustness_text(r['robustness'])}")


def print_medians(results: list[dict]) -> None:
    """Per preset the medians over seeds, their ratio to the seed preset, and the goal met or not."""
    medians = {}
    for name in dict.fromkeys(r["preset"] for r in results):
        runs = [r for r in results if r["preset"] == name]
        medians[name] = {key: statistics.median(r[key] for r in runs)
                         for key in ("seconds", "cpu_seconds", "accuracy", "peak_bytes")}
        medians[name]["corrupted"] = statistics.median(r["robustness"].get("mean", float("nan")) for r in runs)
    reference = medians.get("seed")
    print("\nmedians over seeds" + (" (ratios: against the seed preset trained in this benchmark)" if reference else ""))
    for name, m in medians.items():
        line = (f"  {name:<8} {m['seconds']:7.1f} s  {m['cpu_seconds']:7.1f} CPU s  {m['accuracy']:6.1%}"
                f" (corrupted {m['corrupted']:.1%})")
        if reference and name != "seed":
            line += (f"   time x{m['seconds'] / reference['seconds']:.2f}, "
                     f"accuracy {100 * (m['accuracy'] - reference['accuracy']):+.1f} points")
        if name in GOALS:
            seconds, accuracy = GOALS[name]
            met = m["seconds"] <= seconds and m["accuracy"] >= accuracy and m["peak_bytes"] <= GOAL_PEAK_BYTES
            line += f"   goal <= {seconds:g} s, >= {accuracy:.0%}, <= 1.5 GB: {'met' if met else 'NOT met'}"
        print(line)
    # Training keeps every core busy, so this benchmark alone shows a load of about the core count.
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"\nload average now: {load:.1f} on {cores} cores (this benchmark itself accounts for ~{cores})"
          + ("  -- other work is running; wall times are inflated, compare CPU seconds" if load > cores + 1 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["seed", "quick", "default", "best"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--data", default=str(SUBSET), help="cifar-10-batches-py folder (default: the shared subset)")
    parser.add_argument("--time-budget", type=float, help="override every non-seed preset's time budget (seconds)")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead (turns time budgets off)")
    parser.add_argument("--set", metavar="JSON", help='settings to change in every non-seed preset, to try a lever: '
                        '\'{"convs_per_block": 1}\'')
    args = parser.parse_args()
    if not (Path(args.data) / "batches.meta").exists():
        sys.exit(f"CIFAR-10 batches not found at {args.data}; pass --data PATH/cifar-10-batches-py")
    peak, machine = peak_gflops()
    print(machine + (f"; every non-seed preset with {args.set}" if args.set else ""))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp:
        for name in args.presets:
            for seed in args.seeds:
                result = train_preset(name, seed, args.data, Path(tmp) / f"{name}-{seed}", args)
                print(f"{name}, seed {seed}: {result['accuracy']:.1%} in {result['seconds']:.1f} s "
                      f"({result['epochs']} epochs, {result['images_per_second']:.0f} img/s, "
                      f"{result['peak_bytes'] / 2**20:.0f} MB peak, {result['precision']})", flush=True)
                results.append(result)
    print_runs(results, peak)
    print_medians(results)


if __name__ == "__main__":
    main()

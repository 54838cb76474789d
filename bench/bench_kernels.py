"""Do TensorFlow's oneDNN kernels train our presets faster than its own (Eigen) kernels on this CPU?

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI, bfloat16 or AMX; `cnn_core` turns
them on everywhere (its `__init__`), because on an AVX2 CPU they measured faster. TensorFlow reads the setting once,
when it is imported, so the two cannot share a process: each round starts one child process per setting, in turn
(on, off, on, off, ...), and each child times one preset's steady training speed as `bench_profile.py` does (images/s
over the epochs after the first, which traces). The ratio of each round's pair is printed, then their median.

    python bench/bench_kernels.py [--presets quick default best] [--rounds 3] [--epochs 3] [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SUBSET = ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"
SETTINGS = {"oneDNN": "1", "TensorFlow's own": "0"}  # TF_ENABLE_ONEDNN_OPTS of each child


def child_images_per_second(name: str, data: str, epochs: int) -> dict:
    """In a child: the preset's steady training images/s, and whether TensorFlow reports oneDNN on."""
    from tensorflow.python.util import _pywrap_util_port  # the only place TensorFlow reports it

    from bench.bench_profile import fit_images_per_second
    from cnn_core.datasets.base import hold_out_validation
    from cnn_core.datasets.loading import load_dataset
    from cnn_core.training.config import preset

    config = preset(name)
    config.progressive_resizing = False  # time full-size steps only: shrunk epochs would mix two speeds
    dataset = hold_out_validation(load_dataset(data), config.validation_fraction, config.seed)
    rate, _ = fit_images_per_second(dataset, config, epochs)
    return {"images_per_second": rate, "onednn": bool(_pywrap_util_port.IsMklEnabled())}


def run_child(name: str, setting: str, data: str, epochs: int) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", name, "--data", data, "--epochs", str(epochs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(name: str, data: str, epochs: int, rounds: int) -> None:
    """Alternate the two settings `rounds` times for one preset; print each round and the median ratio."""
    ratios = []
    for round_number in range(1, rounds + 1):
        rates = {}
        for label, setting in SETTINGS.items():
            result = run_child(name, setting, data, epochs)
            rates[label] = result["images_per_second"]
            print(f"  {name} round {round_number}: {label:<17} {result['images_per_second']:6.0f} img/s "
                  f"(TensorFlow reports oneDNN {'on' if result['onednn'] else 'off'})", flush=True)
        ratios.append(rates["oneDNN"] / rates["TensorFlow's own"])
    print(f"{name}: oneDNN trains {statistics.median(ratios):.2f}x as fast as TensorFlow's own kernels "
          f"(median of {rounds} rounds: {', '.join(f'{ratio:.2f}' for ratio in ratios)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SUBSET))
    parser.add_argument("--presets", nargs="+", default=["quick", "default", "best"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per child (the first, which traces, is not timed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: time this preset in this process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_images_per_second(args.child, args.data, args.epochs)))
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from bench.machine import peak_gflops  # imports TensorFlow, which only idles here: the children train

    print(f"data: {args.data}; {peak_gflops()[1]}", flush=True)
    for name in args.presets:
        compare(name, args.data, args.epochs, args.rounds)


if __name__ == "__main__":
    main()

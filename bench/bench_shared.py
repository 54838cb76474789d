"""Do pages stay responsive while a run trains? Idle vs busy, in one process, on this machine's cores.

    python bench/bench_shared.py [--repeats 15] [--data PATH]

Goal (issue 13): p95(busy) / p95(idle) <= 1.5 for (a) the convolution page's whole update (a full AppTest
rerun of the page, as a slider move triggers) and (b) one classify prediction (the shipped model on one
image). "Busy" = a quick-preset run started through the real queue and dispatcher, so it trains in its own
process at the lowered priority (cnn_core.processes.lower_priority), measured once its batches are flowing. The
reference is the same measurement before the run starts, in the same process. Folders are temporary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL_RATIO = 1.5
SUBSET = ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"


def p95_ms(function, repeats: int) -> float:
    """95th percentile wall time of `function()` in ms, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 95)), statistics.median(times)


def measure(page, model, image, repeats: int) -> dict[str, float]:
    page_p95, page_median = p95_ms(page.run, repeats)
    predict_p95, predict_median = p95_ms(lambda: model(image, training=False), repeats * 4)
    return {"page_p95_ms": page_p95, "page_median_ms": page_median, "predict_p95_ms": predict_p95,
            "predict_median_ms": predict_median}


def start_training(data: str) -> str:
    """A quick-preset run through the queue and the dispatcher (the path the Train button takes)."""
    from cnn_core.server import dispatcher, queue
    from cnn_core.training.config import preset
    from cnn_core.training.launch import make_request

    config = preset("quick")
    run_id = queue.submit(config, make_request(config, data, "bench-shared"), owner="bench")
    assert dispatcher.dispatch_once() == [run_id]
    return run_id


def wait_for_batches(run_id: str, timeout: float = 120.0) -> None:
    from cnn_core.training import runs

    deadline = time.monotonic() + timeout
    while sum(event.get("type") == "batch" for event in runs.read_events(run_id)) < 2:
        if time.monotonic() > deadline or runs.read_status(run_id)["state"] not in runs.ACTIVE_STATES:
            raise SystemExit(f"the run did not reach its training loop: {runs.read_status(run_id)}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data", default=str(SUBSET))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    for name in ("runs", "data"):
        os.environ[f"CNN_STUDIO_{name.upper()}_DIR"] = str(work / name)
    shutil.copytree(ROOT / "models" / "cifar10-subset-best", work / "models" / "cifar10-subset-best")
    os.environ.update(CNN_STUDIO_MODELS_DIR=str(work / "models"), CNN_STUDIO_DISPATCHER="off", CNN_STUDIO_MAX_RUNS="1")
    from streamlit.testing.v1 import AppTest

    from cnn_core.models import registry
    from cnn_core.training import launch, runs

    page = AppTest.from_file(str(ROOT / "router.py"), default_timeout=60)
    page.run()
    page.switch_page("app_pages/convolution.py").run()
    model = registry.load_model("cifar10-subset-best")
    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
    idle = measure(page, model, image, args.repeats)
    run_id = start_training(args.data)
    try:
        wait_for_batches(run_id)
        busy = measure(page, model, image, args.repeats)
        still_training = runs.read_status(run_id)["state"] in runs.ACTIVE_STATES
    finally:
        runs.request_stop(run_id)
        launch.wait_for(run_id, timeout=120)
        shutil.rmtree(work, ignore_errors=True)
    ratios = {"page": busy["page_p95_ms"] / idle["page_p95_ms"], "predict": busy["predict_p95_ms"] / idle["predict_p95_ms"]}
    print(json.dumps({"cores": os.cpu_count(), "idle": idle, "busy": busy, "p95_ratio": ratios,
                      "trained_throughout": still_training,
                      "goal_met": all(ratio <= GOAL_RATIO for ratio in ratios.values())}, indent=2))


if __name__ == "__main__":
    main()

"""How long a run's report takes to render with 1,000 classes, against the same report with 10.

    python bench/bench_report.py [--classes 1000] [--repeats 3]

Goal (issue 14): under 2 s whatever the class count. The page is the training page's Runs tab, run through
Streamlit's AppTest in this process (TensorFlow imported once, before timing), on a finished run written
as the trainer writes it; the reference is the same run with 10 classes. Also printed: the size of the
Plotly figures the browser receives (a 1,000-class confusion figure used to be 30 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL_SECONDS = 2.0


def write_run(runs_dir: Path, classes: int) -> None:
    """A finished run over `classes` classes, each test image right 70% of the time."""
    from cnn_core.training.config import TrainConfig

    run_id = "20260101-100000-aaaaaa"
    folder = runs_dir / run_id
    folder.mkdir(parents=True)
    names = [f"class-{index:04d}" for index in range(classes)]
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), 10)
    predictions = np.where(rng.random(len(labels)) < 0.7, labels, rng.integers(0, classes, len(labels)))
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (labels, predictions), 1)
    created = "2026-01-01T10:00:00"
    (folder / "config.json").write_text(TrainConfig(epochs=1).to_json())
    (folder / "request.json").write_text(json.dumps({"data": None, "model_name": "many", "resume_from": None}))
    (folder / "status.json").write_text(json.dumps({
        "run_id": run_id, "state": "finished", "pid": 999_999_999, "created": created, "started": created,
        "ended": created, "error": None, "model_name": "many", "epochs": 1, "test_accuracy": 0.7}))
    events = [{"type": "start", "epochs": 1, "steps_per_epoch": 1, "train_images": 10, "test_images": len(labels),
               "class_names": names},
              {"type": "finish", "test_accuracy": 0.7, "seconds": 1.0, "confusion_matrix": matrix.tolist(),
               "per_class_accuracy": dict(zip(names, (matrix.diagonal() / matrix.sum(axis=1)).tolist()))}]
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))


def render_seconds(classes: int, repeats: int) -> tuple[float, int]:
    """Median seconds of a fresh visit's page run (home, then the training page), and the figures' bytes."""
    from streamlit.testing.v1 import AppTest

    times, sizes = [], 0
    with tempfile.TemporaryDirectory(prefix="bench-report-") as name:
        for key, folder in (("RUNS", "runs"), ("MODELS", "models"), ("DATA", "data")):
            os.environ[f"CNN_STUDIO_{key}_DIR"] = str(Path(name, folder))
        write_run(Path(name, "runs"), classes)
        for _ in range(repeats):
            at = AppTest.from_file(str(ROOT / "router.py"), default_timeout=120)
            at.run()
            began = time.perf_counter()
            at.switch_page("app_pages/training.py").run()
            times.append(time.perf_counter() - began)
            assert not at.exception, [item.value for item in at.exception]
            sizes = sum(len(chart.proto.spec) for chart in at.get("plotly_chart"))
    return statistics.median(times), sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    render_seconds(10, 1)  # warm-up: TensorFlow, Plotly and the page modules imported once
    reference, reference_bytes = render_seconds(10, args.repeats)
    many, many_bytes = render_seconds(args.classes, args.repeats)
    print(f"training page with a finished run's report: 10 classes {reference:.2f} s ({reference_bytes / 1e3:.0f} KB "
          f"of figures), {args.classes} classes {many:.2f} s ({many_bytes / 1e3:.0f} KB); "
          f"ratio {many / reference:.2f}x; goal < {GOAL_SECONDS} s")
    return 0 if many < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())

"""Names a hostile visitor gives to class folders, datasets and files, and how to check that a page kept them inert.

`inert_problems(at)` renders every Markdown-bearing element of an AppTest page with markdown-it-py (an
independent CommonMark parser) and looks for what the names could have made: a link or image to the
attacker's host, LaTeX or a Streamlit colour directive, raw HTML; and at every Plotly figure for tags and `$`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from markdown_it import MarkdownIt

ATTACKER = "evil.example"  # every hostile name points here (the browser test uses a listener's address instead)


def hostile_names(host: str = ATTACKER) -> list[str]:
    """Class names a zip's folders could carry (distinct, no slash, each an attack the issue saw).

    Browsers read "http:host" as "http://host/", so a folder name can point anywhere.
    """
    return [f"![pixel](http:{host})", f"[Log in again](http:{host})", "$HUGE^{2}$", ":red[RED] alarm",
            f"<a href=http:{host}>click"]


PARSER = MarkdownIt("commonmark").enable("strikethrough")
MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "toast")


def markdown_values(at) -> list[str]:
    values = [element.value for kind in MARKDOWN_KINDS for element in at.get(kind)]
    values += [caption for image in at.get("imgs") for caption in getattr(image, "captions", [])]
    for kind in ("selectbox", "multiselect", "text_input", "button", "radio", "expander", "tab", "metric"):
        values += [element.label for element in at.get(kind) if getattr(element, "label", None)]
    return [value for value in values if isinstance(value, str)]


def inert_problems(at, host: str = ATTACKER) -> list[str]:
    """What the hostile names made on the page (empty when every one of them stayed text)."""
    problems = []
    for value in markdown_values(at):
        rendered = PARSER.render(value)
        if re.search(rf"(href|src)=\"[^\"]*{re.escape(host)}", rendered):
            problems.append(f"link or image: {value!r}")
        if re.search(r"(?<!\\)\$HUGE|(?<!\\):red\[|(?<!\\)<a href", value):  # a backslash makes each inert
            problems.append(f"LaTeX, directive or HTML: {value!r}")
    for chart in at.get("plotly_chart"):
        spec = json.dumps(json.loads(chart.proto.spec))
        if "<a " in spec or "<img" in spec or "$" in spec:  # Plotly's HTML dialect and MathJax delimiters
            problems.append("chart label: " + spec[:200])
    return problems


def write_finished_run(runs_dir: Path, run_id: str, class_names: list[str], *, model_name: str = "hostile",
                       data: Path | None = None) -> None:
    """A finished run whose data had `class_names`; with `data` (a class-folder zip of exactly those classes)
    also its test predictions, every one wrong, so the report shows the images and captions behind them."""
    folder = runs_dir / run_id
    folder.mkdir(parents=True)
    from cnn_core.training.config import TrainConfig

    (folder / "config.json").write_text(TrainConfig(epochs=1).to_json())
    (folder / "request.json").write_text(json.dumps({"data": None if data is None else str(data),
                                                     "model_name": model_name, "resume_from": None}))
    if data is not None:
        from cnn_core.datasets.loading import load_dataset

        dataset = load_dataset(data)
        assert dataset.class_names == class_names
        labels = dataset.y_test
        np.savez(folder / "predictions.npz", labels=labels, predictions=(labels + 1) % len(class_names),
                 probabilities=np.zeros((len(labels), len(class_names)), dtype=np.float16))
    created = "2026-01-01T10:00:00"
    (folder / "status.json").write_text(json.dumps({
        "run_id": run_id, "state": "finished", "pid": 999_999_999, "created": created, "started": created,
        "ended": created, "error": None, "model_name": model_name, "epochs": 1, "data_source": class_names[0],
        "test_accuracy": 0.5}))
    count = len(class_names)
    matrix = np.diag(np.full(count, 3)) + 1  # every class confused with every other once
    events = [{"type": "start", "epochs": 1, "steps_per_epoch": 1, "train_images": 10, "test_images": 10,
               "class_names": class_names},
              {"type": "epoch", "epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
               "learning_rate": 1e-3, "images_per_second": 10.0, "elapsed": 1.0, "eta": 0.0},
              {"type": "finish", "test_accuracy": 0.5, "seconds": 1.0, "confusion_matrix": matrix.tolist(),
               "per_class_accuracy": {name: index / count for index, name in enumerate(class_names)}}]
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))

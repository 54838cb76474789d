"""The run report's epoch scrubber through AppTest: a run folder with snapshots.npz, replayed in both languages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.datasets.cifar import CIFAR10_CLASSES
from cnn_core.training.config import TrainConfig
from cnn_core.training.snapshots import SNAPSHOT_FILE, write_snapshots

from helpers.paths import APP
from helpers.text import CJK, english_leftovers

RUN = "20260101-120000-abcdef"


def write_run_with_snapshots(runs_dir, config: TrainConfig | None = None) -> list[np.ndarray]:
    """A finished two-epoch run whose snapshots say 30% right after epoch 1 and 70% after epoch 2."""
    folder = runs_dir / RUN
    folder.mkdir(parents=True)
    (folder / "config.json").write_text((config or TrainConfig(epochs=2)).to_json())
    (folder / "request.json").write_text(json.dumps({"data": None, "model_name": "m", "resume_from": None}))
    created = "2026-01-01T12:00:00"
    (folder / "status.json").write_text(json.dumps({
        "run_id": RUN, "state": "finished", "pid": 999_999_999, "created": created, "started": created,
        "ended": created, "error": None, "model_name": "m", "epochs": 2, "data_source": "x", "test_accuracy": 0.7}))
    events = [{"type": "start", "epochs": 2, "steps_per_epoch": 10, "train_images": 100, "test_images": 100,
               "class_names": CIFAR10_CLASSES}]
    events += [{"type": "epoch", "epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
                "learning_rate": 1e-3, "images_per_second": 900.0, "elapsed": 1.0, "eta": 0.0} for epoch in (1, 2)]
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    rng = np.random.default_rng(0)
    matrices = []
    for right in (3, 7):  # each class: `right` of 10 correct, the rest called the next class
        matrix = np.zeros((10, 10), dtype=np.int32)
        for true in range(10):
            matrix[true, true], matrix[true, (true + 1) % 10] = right, 10 - right
        matrices.append(matrix)
    records = [{"epoch": epoch, "filters": rng.normal(size=(3, 3, 3, 8)).astype(np.float16), "confusion": matrix,
                "probabilities": np.eye(10, dtype=np.float16)[[0, 1, 2, 3]],
                "cams": rng.random((4, 8, 8)).astype(np.float16)} for epoch, matrix in zip((1, 2), matrices)]
    images = rng.integers(0, 256, (100, 32, 32, 3)).astype(np.uint8)
    write_snapshots(folder / SNAPSHOT_FILE, records, images, np.arange(100) % 10)
    return matrices


@pytest.mark.parametrize("language, words", [("en", "30.0% right on these 100 validation images"),
                                             ("zh", "正确率为 30.0%")])
def test_the_slider_replays_each_epochs_snapshot(app_dirs, language, words):
    write_run_with_snapshots(app_dirs["runs"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["lang"] = language
    at.run()
    at.switch_page("app_pages/training.py").run()
    assert not at.exception, [item.value for item in at.exception]
    slider = next(widget for widget in at.get("select_slider") if widget.key.startswith("scrub_"))
    assert slider.options == ["1", "2"] and slider.value == 2
    captions = [caption.value for caption in at.caption]
    assert not any(words in caption for caption in captions)  # epoch 2 shown first: 70%
    at = slider.set_value(1).run()
    captions = [caption.value for caption in at.caption]
    assert any(words in caption for caption in captions), captions
    image_captions = [text for image in at.image for text in image.captions]
    assert any(("airplane" if language == "en" else "飞机") in text for text in image_captions), image_captions
    if language == "zh":
        shown = "\n".join(captions + image_captions)
        assert CJK.search(shown) and english_leftovers(shown) == []


@pytest.mark.parametrize("whitening_patch, words", [(0, "filters at this epoch"), (2, "the whitening layer, computed")])
def test_the_filters_caption_says_when_the_first_layer_is_a_fixed_whitening_layer(app_dirs, whitening_patch, words):
    write_run_with_snapshots(app_dirs["runs"], TrainConfig(epochs=2, whitening_patch=whitening_patch))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("app_pages/training.py").run()
    assert not at.exception, [item.value for item in at.exception]
    image_captions = [text for image in at.image for text in image.captions]
    assert sum("first layer's 8 filters" in text for text in image_captions) == 1, image_captions
    assert any(words in text for text in image_captions), image_captions

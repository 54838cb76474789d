"""Hostile visitors through AppTest: names from a zip, a model's metadata or a link stay text on every page,
and an unexpected error is a short message with a reference id, never a traceback or a server path."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core.training.config import TrainConfig

from helpers.colour_task import save_colour_model, train_colour_model
from helpers.hostile import hostile_names, inert_problems, write_finished_run
from helpers.paths import APP


def open_app(page: str, language: str = "en", query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["lang"] = language
    at.query_params.update(query or {})
    for group in ("arch", "aug", "optim", "fit"):  # the training page's lazy groups of settings, opened
        at.session_state[f"group_{group}_open"] = True
    at.run()
    at.switch_page(page).run()
    return at


@pytest.mark.parametrize("language", ["en", "zh"])
def test_run_report_with_hostile_class_names_stays_text(app_dirs, language):
    names = hostile_names()
    write_finished_run(app_dirs["runs"], "20260101-100000-aaaaaa", names)
    at = open_app("app_pages/training.py", language)
    assert not at.exception, [item.value for item in at.exception]
    assert at.get("plotly_chart"), "the report's charts are drawn"
    assert inert_problems(at) == []


def test_the_check_sees_unescaped_names(app_dirs):
    # Without the rule, the same page content would be caught: the check itself can fail.
    class Fake:
        def __init__(self, value):
            self.value = value

    class Page:
        def get(self, kind):
            return [Fake(f"Class {hostile_names()[0]} and {hostile_names()[2]}")] if kind == "markdown" else []

    assert len(inert_problems(Page())) == 2


def test_classify_page_with_a_hostile_models_classes_and_dataset_stays_text(app_dirs):
    config = TrainConfig(filters=[4], epochs=1)
    names = hostile_names()[:3]
    save_colour_model(train_colour_model(config), config, "hostile", names,
                      dataset=hostile_names()[1], test_accuracy=0.9)
    at = open_app("app_pages/classify.py")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(buffer, "PNG")
    at.file_uploader(key="classify_uploads").set_value((hostile_names()[0] + ".png", buffer.getvalue(),
                                                        "image/png")).run()
    assert not at.exception, [item.value for item in at.exception]
    assert at.get("plotly_chart") and inert_problems(at) == []


def test_a_hostile_config_link_is_explained_as_text(app_dirs):
    at = open_app("app_pages/training.py", query={"filters": "[Log in](http://evil.example/x)"})
    assert not at.exception
    assert at.warning and inert_problems(at) == []


def test_unexpected_errors_show_a_reference_not_a_traceback_in_public_mode(app_dirs, monkeypatch, caplog):
    from cnn_core.models import registry

    def broken():
        raise RuntimeError("disk gone at /srv/secret/models")

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setattr(registry, "list_models", broken)
    at = open_app("app_pages/models.py")
    assert not at.exception
    message = at.error[0].value
    reference = message.split("**")[1]
    assert "Something went wrong" in message and len(reference) == 8 and "/srv" not in message
    assert reference in caplog.text and "disk gone at /srv/secret/models" in caplog.text  # the log has it all


def test_public_mode_names_the_visitors_file_not_the_servers_folder(app_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    at = open_app("app_pages/training.py")
    at.radio(key="data_kind").set_value("path").run()
    at.text_input(key="data_path").set_value(str(tmp_path / "deep" / "nowhere")).run()
    errors = "\n".join(error.value for error in at.error)
    assert "nowhere" in errors and str(tmp_path) not in errors.replace("\\", "")


def _flat_png(side: int, colour=(200, 20, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_uploads_decode_once_per_session_within_a_pixel_budget(app_dirs, monkeypatch):
    from cnn_core import images

    config = TrainConfig(filters=[4], epochs=1)
    save_colour_model(train_colour_model(config), config, "colours", test_accuracy=0.9)
    decoded = []
    real = images.load_shrunk
    monkeypatch.setattr(images, "load_shrunk", lambda data, side: decoded.append(len(data)) or real(data, side))
    at = open_app("app_pages/classify.py")
    photos = [(f"photo-{index}.png", _flat_png(1100, (index * 9, 20, 20)), "image/png") for index in range(26)]
    at.file_uploader(key="classify_uploads").set_value(photos[:2]).run()
    at.radio(key="classify_fit").set_value("pad").run()  # another interaction: nothing decoded again
    assert not at.exception and len(decoded) == 2
    at.file_uploader(key="classify_uploads").set_value(photos).run()
    refusals = [error.value for error in at.error if "as many as one visitor may" in error.value]
    assert len(refusals) == 2 and "photo-24.png" in refusals[0] and "photo-25.png" in refusals[1]
    assert len(decoded) == 24  # the 25th and 26th were refused before decoding
    kept = at.session_state["classify_decoded"]
    assert len(kept) == 24 and all(max(image.size) <= images.MAX_DISPLAY_SIDE for image, _ in kept.values())


def test_a_refused_upload_is_read_once_not_on_every_rerun(app_dirs, monkeypatch):
    from cnn_core.datasets import loading
    from cnn_core.datasets.base import DataError

    reads = []

    def refusing(spec, **_):
        reads.append(str(spec))
        raise DataError("too_many_pixels", path=spec, limit=1000)

    monkeypatch.setattr(loading, "load_dataset", refusing)
    at = open_app("app_pages/training.py")
    at.radio(key="data_kind").set_value("upload").run()
    at.file_uploader(key="data_upload").set_value(("huge.zip", b"PK\x05\x06" + bytes(18), "application/zip")).run()
    at.text_input(key="cfg_filters").set_value("8, 16").run()  # two more reruns of the whole page
    at.number_input(key="cfg_epochs").set_value(3).run()
    assert not at.exception and len([spec for spec in reads if spec.endswith("-huge.zip")]) == 1
    assert any("megapixels" in error.value for error in at.error)


def test_convolution_page_shows_a_hostile_file_name_as_text(app_dirs):
    at = open_app("app_pages/convolution.py")
    name = hostile_names()[0] + ".png"
    at.file_uploader[0].set_value((name, b"not a picture", "image/png")).run()
    assert not at.exception and at.error and inert_problems(at) == []

def test_models_page_with_hostile_metadata_stays_text(app_dirs):
    import json

    folder = app_dirs["models"] / "hostile"
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not a real model")
    (folder / "metadata.json").write_text(json.dumps({
        "name": "hostile", "config": TrainConfig().to_dict(), "class_names": hostile_names(),
        "dataset": hostile_names()[1], "test_accuracy": 0.5, "created": hostile_names()[2]}))
    at = open_app("app_pages/models.py")
    assert not at.exception and inert_problems(at) == []
    at.multiselect(key="compare_models").set_value(["hostile"]).run()
    assert not at.exception and inert_problems(at) == []

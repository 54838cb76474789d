"""The classify page in Debian chromium: upload two photos, see both classified; in Chinese too."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from cnn_core.i18n import text
from cnn_core.training.config import TrainConfig

from helpers.browser import open_expander, pick_option, settle
from helpers.colour_task import CLASSES, save_colour_model, train_colour_model

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000  # first visit imports TensorFlow and loads the model on a shared 2-core machine


def train_and_save_colour_model(name: str, class_names: list[str]) -> None:
    config = TrainConfig(filters=[4])
    save_colour_model(train_colour_model(config), config, name, class_names, test_accuracy=1.0)


def pick_model(page, label: str, name: str) -> None:
    """Choose the test's model in the picker (the app's shipped model, copied in, is the default)."""
    pick_option(page, label, f"{name} · ")


def test_upload_two_photos_and_see_both_results(streamlit_server, browser_page, app_dirs, tmp_path):
    train_and_save_colour_model("colours", CLASSES)
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (120, 80), (220, 30, 30)).save(red)
    Image.new("RGB", (80, 120), (20, 40, 230)).save(blue)

    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{streamlit_server}/classify")
    page.get_by_text("Upload photos").wait_for()
    pick_model(page, "Model", "colours")
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload photos")
    uploader.locator('input[type="file"]').set_input_files([str(red), str(blue)])

    page.get_by_text("2 images", exact=True).wait_for()
    page.get_by_text("red.png: red").wait_for()  # details of the first photo
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the summary table (drawn on a canvas)
    # The second result, through the details picker.
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Details for").click()
    page.get_by_role("option", name="2. blue.png").click()
    page.get_by_text("blue.png: blue").wait_for()
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_in_chinese_an_upload_shows_a_chinese_class_name_with_its_probability(
        streamlit_server, browser_page, app_dirs, tmp_path):
    # The colour task under CIFAR-10 names: red -> airplane, shown as 飞机.
    train_and_save_colour_model("cifar-names", ["airplane", "automobile", "bird"])
    red = tmp_path / "red.png"
    Image.new("RGB", (120, 80), (220, 30, 30)).save(red)

    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{streamlit_server}/classify?lang=zh")
    page.get_by_text("上传照片").first.wait_for()
    pick_model(page, "模型", "cifar-names")
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="上传照片")
    uploader.locator('input[type="file"]').set_input_files([str(red)])

    headline = page.get_by_text(re.compile(r"red\.png：飞机（\d+\.\d%）"))
    headline.wait_for()
    probability = float(re.search(r"（(\d+\.\d)%）", headline.inner_text()).group(1))
    assert 50.0 < probability <= 100.0
    open_expander(page, text("zh", "classify.math.title"))  # the worked math is drawn once it is opened
    page.locator(".katex").first.wait_for()  # the formulas render (KaTeX), not as raw LaTeX
    assert page.locator(".katex-error").count() == 0
    assert page.locator(".js-plotly-plot .xtitle").first.text_content() == "概率"  # the top-k chart's axis
    assert "Upload photos" not in page.inner_text("body")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_model_travels_as_settings_and_weights_from_the_models_page_to_an_import(
        streamlit_server, browser_page, app_dirs, tmp_path):
    """Download the shipped model's two files on the saved-models page, import them on the classify page."""
    from cnn_core.models import registry

    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{streamlit_server}/models")
    files = []
    for label in ("Download settings (.json)", "Download weights (.weights.h5)"):
        with page.expect_download() as download:
            page.get_by_text(label).click()
        files.append(tmp_path / download.value.suggested_filename)
        download.value.save_as(files[-1])
    assert [file.name for file in files] == ["cifar10-subset-best.json", "cifar10-subset-best.weights.h5"]

    page.goto(f"{streamlit_server}/classify")
    page.get_by_text("Import a model trained elsewhere").wait_for()
    settle(page)  # files dropped while the first visit still runs (importing TensorFlow) can be lost
    page.get_by_text("Import a model trained elsewhere").click()
    for label, file in zip(("Configuration (JSON)", "Weights (.weights.h5)"), files):
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=label)
        uploader.locator('input[type="file"]').set_input_files(str(file))
        uploader.get_by_text(re.compile(r"^\d+(\.\d+)?[KM]?B$")).wait_for()  # its size: the file is in (names are shortened)
    page.get_by_label("Save as").fill("shared-copy")
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported as shared-copy").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    imported, original = registry.load_metadata("shared-copy"), registry.load_metadata("cifar10-subset-best")
    assert imported["imported"] and imported["class_names"] == original["class_names"]
    # The same settings (the shipped model predates `validation_fraction`: an import fills in its default).
    assert imported["config"] == TrainConfig.from_dict(original["config"]).to_dict()

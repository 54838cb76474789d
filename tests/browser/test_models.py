"""The saved-models page in Debian chromium: the export downloads are made on click and are the real exports."""

from __future__ import annotations

import pytest

from cnn_core.models import registry
from cnn_core.training.export import keras_code

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000  # the TFLite conversion imports TensorFlow's converter on a shared 2-core machine


def test_the_script_and_the_tflite_file_download_from_the_models_page(streamlit_server, browser_page, app_dirs, tmp_path):
    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{streamlit_server}/models")
    files = []
    for label in ("Download a Keras training script (.py)", "Download a TFLite model (.tflite)"):
        with page.expect_download(timeout=TIMEOUT_MS) as download:
            page.get_by_role("button", name=label).click()
        files.append(tmp_path / download.value.suggested_filename)
        download.value.save_as(files[-1])
    script, tflite = files
    assert (script.name, tflite.name) == ("train_cifar10_subset_best.py", "cifar10-subset-best.tflite")
    assert script.read_text() == keras_code(registry.load_metadata("cifar10-subset-best"))
    assert tflite.read_bytes()[4:8] == b"TFL3" and tflite.stat().st_size > 4 * 600_000  # float32 weights inside
    assert page.locator('[data-testid="stException"]').count() == 0

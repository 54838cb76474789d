"""The whole training flow in Chromium: a shared link, a 1-epoch run, live charts, the saved model."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

MODEL_NAME = "browser-test"
# A tiny network as a shared link would carry it (this also tests the link feature).
LINK = "/training?filters=%5B8%5D&epochs=1&batch_size=128"


def test_train_one_epoch_from_a_link_and_find_the_model(streamlit_server, browser_page, cifar_subset, app_dirs):
    page = browser_page
    page.goto(streamlit_server + LINK)
    filters = page.get_by_role("textbox", name="Filters per block")
    filters.wait_for(timeout=60_000)
    assert filters.input_value() == "8"

    for label, text in (("Folder or archive path", str(cifar_subset)), ("Save the model as", MODEL_NAME)):
        box = page.get_by_role("textbox", name=label)
        box.fill(text)
        box.press("Enter")
    # The summary of the link's network: conv 3x3x3x8 + bias, then 15*15*8 flattened values -> 10 classes.
    page.get_by_text(f"{3 * 3 * 3 * 8 + 8 + 15 * 15 * 8 * 10 + 10:,}", exact=True).wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # let the last rerun settle before pressing Train

    page.get_by_role("button", name="Train", exact=True).click()
    # The live view draws the per-batch chart (a Plotly figure that only runs have) and then the result.
    page.get_by_text("Loss per batch").first.wait_for(timeout=90_000)
    page.get_by_text("Test accuracy").first.wait_for(timeout=90_000)
    assert page.get_by_text("Loss per epoch").count() >= 1
    accuracy = page.locator('[data-testid="stMetricValue"]').filter(has_text=re.compile(r"^\d+\.\d%$")).first
    assert 0.0 < float(accuracy.inner_text().rstrip("%")) <= 100.0

    assert (app_dirs["models"] / MODEL_NAME / "model.keras").is_file()
    assert (app_dirs["models"] / MODEL_NAME / "metadata.json").is_file()
    page.get_by_role("tab", name="Saved models").click()
    page.get_by_role("tab", name="Saved models").wait_for()
    assert page.get_by_text(MODEL_NAME).count() >= 1

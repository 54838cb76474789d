"""The whole training flow in Chromium: a shared link, a 1-epoch run, live charts, the saved model; and,
in Chinese, a longer run stopped from the page."""

from __future__ import annotations

import json
import re

import pytest

from helpers.text import CJK

pytestmark = pytest.mark.browser

MODEL_NAME = "browser-test"
# A tiny network as a shared link would carry it (this also tests the link feature).
LINK = "/training?filters=%5B8%5D&epochs=1&batch_size=128"
# A loaded machine can take minutes to the first batch (CI once showed none within 90 s, when the suite's runs
# still trained at low priority beside the other busy worker): generous, still bounded.
FIRST_BATCH_MS = 240_000


def fill(page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.fill(text)
    box.press("Enter")


def test_train_one_epoch_from_a_link_and_find_the_model(streamlit_server, browser_page, cifar_subset, app_dirs):
    page = browser_page
    page.goto(streamlit_server + LINK)
    filters = page.get_by_role("textbox", name="Filters per block")
    filters.wait_for(timeout=60_000)
    assert filters.input_value() == "8"

    fill(page, "Folder or archive path", str(cifar_subset))
    fill(page, "Save the model as", MODEL_NAME)
    # The summary of the link's network: conv 3x3x3x8 + bias, then 15*15*8 flattened values -> 10 classes.
    page.get_by_text(f"{3 * 3 * 3 * 8 + 8 + 15 * 15 * 8 * 10 + 10:,}", exact=True).wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # let the last rerun settle before pressing Train

    page.get_by_role("button", name="Train", exact=True).click()
    # The live view draws the per-batch chart (a Plotly figure that only runs have) and then the result.
    page.get_by_text("Loss per batch").first.wait_for(timeout=FIRST_BATCH_MS)
    page.get_by_text("Test accuracy").first.wait_for(timeout=90_000)
    assert page.get_by_text("Loss per epoch").count() >= 1
    accuracy = page.locator('[data-testid="stMetricValue"]').filter(has_text=re.compile(r"^\d+\.\d%$")).first
    assert 0.0 < float(accuracy.inner_text().rstrip("%")) <= 100.0

    assert (app_dirs["models"] / MODEL_NAME / "model.keras").is_file()
    assert (app_dirs["models"] / MODEL_NAME / "metadata.json").is_file()
    page.locator("[data-testid='stSidebarNav']").get_by_text("Saved models").click()
    page.get_by_role("heading", name="Saved models").wait_for(timeout=30_000)
    page.get_by_text(MODEL_NAME).first.wait_for(state="attached", timeout=30_000)  # a (canvas) table cell


def test_stop_a_run_in_chinese(streamlit_server, browser_page, cifar_subset, app_dirs):
    page = browser_page
    page.goto(streamlit_server + "/training?lang=zh&filters=%5B4%5D&epochs=50&batch_size=256")
    page.get_by_role("textbox", name="每个卷积块的卷积核数量").wait_for(timeout=60_000)
    page.locator(".katex").first.wait_for(timeout=60_000)  # the lessons' formulas, rendered by KaTeX
    assert page.locator(".katex-error").count() == 0
    assert len(CJK.findall(page.locator("[data-testid='stMain']").inner_text())) > 500

    fill(page, "文件夹或压缩包路径", str(cifar_subset))
    fill(page, "模型保存名称", "stop-test")
    page.get_by_text("5,085 张训练图像").first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    page.get_by_role("button", name="训练", exact=True).click()
    page.get_by_text("每批的损失").first.wait_for(timeout=FIRST_BATCH_MS)  # training has really begun
    page.get_by_role("button", name="停止", exact=True).click()
    # Stopped after the current batch: the report replaces the live view, in Chinese.
    page.get_by_text(re.compile(r"⏹️ 已停止 · ")).first.wait_for(timeout=90_000)
    assert page.get_by_role("button", name="停止", exact=True).count() == 0
    statuses = [json.loads(path.read_text()) for path in app_dirs["runs"].glob("*/status.json")]
    assert [status["state"] for status in statuses] == ["stopped"]

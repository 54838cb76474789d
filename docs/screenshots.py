"""Re-take the README's classify screenshot (the shipped model on the Chelsea sample, in Chinese) in Chromium.

Starts the app on a loopback port with the repository's own models, opens the classify page with `?lang=zh`,
picks the sample, waits for its result and saves `docs/classify-zh.png`. Run it after the shipped model
changes:

    python docs/screenshots.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server starter and Chromium flags

from helpers.paths import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers.server import free_port, start_server, stop_server  # noqa: E402

TIMEOUT_MS = 120_000  # the first visit imports TensorFlow and loads the model


def classify_chinese(page, url: str, target: Path) -> None:
    page.goto(f"{url}/classify?lang=zh")
    page.get_by_text("上传照片").first.wait_for()
    page.locator('[data-testid="stMultiSelect"]').click()
    page.get_by_role("option", name=re.compile("Chelsea")).click()
    page.keyboard.press("Escape")
    page.get_by_text(re.compile(r"示例：猫（Chelsea）：")).wait_for()
    page.get_by_text("从得分到概率").first.click()  # the worked softmax: a lazy expander, drawn once opened
    page.locator(".katex").first.wait_for()
    page.wait_for_timeout(2000)  # the bar chart and the formulas finish drawing
    page.locator('[data-testid="stMain"]').screenshot(path=str(target))  # the page itself, not the sidebar


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = start_server(port, {"CNN_STUDIO_DISPATCHER": "off"}, Path(folder) / "server.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 2100})
                page.set_default_timeout(TIMEOUT_MS)
                classify_chinese(page, f"http://127.0.0.1:{port}", ROOT / "docs" / "classify-zh.png")
                browser.close()
        finally:
            stop_server(server)
    print("saved docs/classify-zh.png")


if __name__ == "__main__":
    main()

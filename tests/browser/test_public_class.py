"""Two visitors on one public server, in two Chromium contexts (their own cookies), as a class meets it.

The zip the teacher hands out is uploaded by both (the second visitor's page once crashed replaying the first one's
progress bar). Alice trains on it; her run keeps the epochs she asked for (the server's time cap once stretched every
run to fill it); she reloads mid-run and still finds her live view and Stop (it lived only in the lost session);
Bob never sees her Stop, and her private model never appears in his classify picker. Loopback only; bounded waits.
"""

from __future__ import annotations

import re
import shutil

import pytest

from helpers.browser import classify_model_options
from helpers.class_folders import class_files, write_zip
from helpers.paths import CHROMIUM_ARGS, PROJECT_ROOT
from helpers.runs import wait_until
from helpers.server import free_port, start_server, stop_server

pytestmark = pytest.mark.browser
TIMEOUT_MS = 240_000  # a loaded 2-core machine: TensorFlow's import, a first batch beside other tests
EPOCHS = 1000  # the most a setting allows: a minute or more of tiny images, to reload mid-run (the cap used to stretch any run)
LINK = f"/training?filters=%5B4%5D&epochs={EPOCHS}&batch_size=32"
ALICES_MODEL = "alices-private-model"


def upload_zip(page, archive) -> None:
    page.get_by_text("Upload a zip").click()
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Zip of class folders").locator(
        'input[type="file"]').set_input_files(str(archive))
    page.get_by_text(re.compile(r"images in 2 classes")).first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Something went wrong" not in page.inner_text("body")


def start_event(run_id: str) -> dict | None:
    from cnn_core.training import runs

    return next((event for event in runs.read_events(run_id) if event["type"] == "start"), None)


def stop_buttons(page) -> int:
    return page.get_by_role("button", name="Stop", exact=True).count()


def test_two_visitors_share_a_zip_and_keep_what_is_theirs(app_dirs, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    shutil.copytree(PROJECT_ROOT / "models" / "cifar10-subset-best", app_dirs["models"] / "cifar10-subset-best")
    archive = write_zip(tmp_path / "class-pets.zip", class_files({"cats": (200, 40, 40), "dogs": (40, 200, 40)}, 48))
    env = {"CNN_STUDIO_PUBLIC": "1", "CNN_STUDIO_MAX_RUNS": "1", "CNN_STUDIO_DISPATCHER": "on"}
    port = free_port()
    server = start_server(port, env, tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
            alice, bob = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2))
            for page in (alice, bob):
                page.set_default_timeout(TIMEOUT_MS)
            try:
                visit(url, alice, bob, archive, app_dirs)
            except Exception:
                for name, page in (("alice", alice), ("bob", bob)):  # what each saw, for the failure report
                    print(f"\n--- {name} ({page.url}) ---\n{page.inner_text('body')[-2000:]}")
                print("--- server log ---\n" + (tmp_path / "server.log").read_text(errors="replace")[-3000:])
                raise
            browser.close()
    finally:
        stop_server(server)


def visit(url, alice, bob, archive, app_dirs) -> None:
    """The two visitors' steps (see the module docstring)."""
    from cnn_core.training import runs

    alice.goto(url + LINK)
    bob.goto(url + "/training")
    upload_zip(alice, archive)
    upload_zip(bob, archive)  # the same file: the summary Alice's visit made

    name = alice.get_by_role("textbox", name="Save the model as")
    name.fill(ALICES_MODEL)
    name.press("Enter")
    alice.wait_for_timeout(500)
    alice.get_by_role("button", name="Train", exact=True).click()
    live = alice.get_by_text(re.compile(rf"{ALICES_MODEL} · epoch \d+ of \d+")).first  # the live view's progress
    live.wait_for()
    alice.reload()  # a new session of the same browser: the run is found by its owner
    alice.get_by_role("button", name="Stop", exact=True).wait_for()
    live.wait_for()
    bob.reload()
    bob.get_by_role("textbox", name="Save the model as").wait_for()
    assert stop_buttons(bob) == 0 and ALICES_MODEL not in bob.inner_text("body")

    run = next(status for status in runs.list_runs() if status["model_name"] == ALICES_MODEL)
    wait_until(lambda: start_event(run["run_id"]), timeout=120)  # the live view shows the run from its loading on
    start = start_event(run["run_id"])
    assert start["asked_epochs"] == EPOCHS and start["max_seconds"] == 300  # under the server's ceiling, ...
    assert start["epochs"] == EPOCHS or start["expected_seconds"] > 0.8 * 300  # ... kept unless they do not fit
    alice.get_by_role("button", name="Stop", exact=True).click()
    alice.get_by_text("Test accuracy").first.wait_for()
    wait_until(lambda: (app_dirs["models"] / ALICES_MODEL / "model.keras").is_file(), timeout=60)

    shown = classify_model_options(bob, url)
    assert shown and not [option for option in shown if ALICES_MODEL in option], shown

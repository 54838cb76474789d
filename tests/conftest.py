"""Shared fixtures: the real CIFAR-10 subset beside the checkout, and throw-away app folders.

Paths and constants live in helpers/paths.py; test modules import helpers from there, never from here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import cnn_core  # noqa: F401  before any test module imports TensorFlow: the same CPU kernels as the app's processes

from helpers.paths import CHROMIUM, CHROMIUM_ARGS, CIFAR_SUBSET, PROJECT_ROOT
from helpers.server import free_port, start_server, stop_server

# The suite's training processes keep normal priority: at nice 10 beside the other test worker's busy cores they got
# a tenth of a core and waited minutes for their first batch (measured: 130-250 s to start beside four busy processes;
# most likely why CI once saw no first batch within 90 s). The setting itself is tested in
# tests/server/test_priority.py and tests/training/test_launch.py; the load test runs at the hosting default.
os.environ.setdefault("CNN_STUDIO_TRAINING_NICE", "0")


@pytest.fixture(scope="session")
def cifar_subset() -> Path:
    """Path of the shared `cifar-10-batches-py` subset (5,085 train / 509 test images)."""
    if not (CIFAR_SUBSET / "batches.meta").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CIFAR-10 subset missing at {CIFAR_SUBSET}")
        pytest.skip(f"CIFAR-10 subset not found at {CIFAR_SUBSET}")
    return CIFAR_SUBSET


@pytest.fixture()
def app_dirs(tmp_path, monkeypatch) -> dict[str, Path]:
    """Point the registry, runs and data folders at a temporary place for one test."""
    dirs = {name: tmp_path / name for name in ("models", "runs", "data")}
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setenv(f"CNN_STUDIO_{name.upper()}_DIR", str(path))
    # AppTest runs router.py in this process: its queue dispatcher thread must not train a test's queued runs.
    monkeypatch.setenv("CNN_STUDIO_DISPATCHER", "off")
    return dirs


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's chromium; browser tests fail in CI without it and skip elsewhere."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian chromium (see .ci/run)")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture()
def shipped_models_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the repository's models/ folder, so tests can write without touching it."""
    target = tmp_path / "models"
    shutil.copytree(PROJECT_ROOT / "models", target)
    monkeypatch.setenv("CNN_STUDIO_MODELS_DIR", str(target))
    return target


# --- Browser tests: a real `streamlit run app.py` on loopback, driven by Debian chromium. ---


@pytest.fixture()
def streamlit_server(app_dirs, chromium_path):
    """Start the app on a free loopback port with temporary folders (app_dirs); yield its URL."""
    # The shipped model must be visible to the app, but tests write into a copy.
    shutil.copytree(PROJECT_ROOT / "models", app_dirs["models"], dirs_exist_ok=True)
    env = {"CNN_STUDIO_DISPATCHER": "on",  # a real server dispatches its own queue (app_dirs turned it off)
           # browser tests are written for one training slot, whatever the cores
           "CNN_STUDIO_MAX_RUNS": os.environ.get("CNN_STUDIO_MAX_RUNS", "1")}
    port = free_port()
    process = start_server(port, env, app_dirs["runs"].parent / "streamlit.log")
    yield f"http://127.0.0.1:{port}"
    stop_server(process)


@pytest.fixture()
def browser_page(chromium_path):
    """A Playwright page in headless Debian chromium (no downloaded browser needed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, report what the page showed and the server's log: CI keeps nothing else."""
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "funcargs", {}).get("browser_page")
    if report.when != "call" or not report.failed or page is None:
        return
    app_dirs = item.funcargs.get("app_dirs")
    if app_dirs:  # first: the runs' own record says whether a run waited, failed or was slow to start
        report.sections.append(("runs", runs_record(app_dirs["runs"])))
    try:  # the tail: the live view and results are at the bottom of the page
        report.sections.append(("page text", f"{page.url}\n{page.inner_text('body', timeout=5000)[-2500:]}"))
    except Exception as error:  # the page may be the thing that broke
        report.sections.append(("page text", f"unreadable: {error!r}"))
    log = app_dirs["runs"].parent / "streamlit.log" if app_dirs else None  # where streamlit_server writes it
    if log is not None and log.exists():
        report.sections.append(("streamlit log", log.read_text(errors="replace")[-4000:]))


def runs_record(runs_folder: Path) -> str:
    """Each run's status, last events and log tail, for a failed browser test's report."""
    parts = []
    for folder in sorted(path for path in runs_folder.glob("*") if path.is_dir()):
        files = {name: folder / name for name in ("status.json", "events.jsonl", "log.txt")}
        text = {name: path.read_text(errors="replace") if path.is_file() else "" for name, path in files.items()}
        events = "\n".join(line[:200] for line in text["events.jsonl"].splitlines()[-4:])
        parts.append(f"{folder.name}: {text['status.json']}\n{events}\n{text['log.txt'][-800:]}")
    return "\n\n".join(parts) or "no runs"

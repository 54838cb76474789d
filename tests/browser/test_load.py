"""Load: three people use one server at once, in three Chromium contexts (separate cookies and sessions).

One trains (a tiny network from a shared link, stopped after its first epoch), one classifies a photo, one
uploads pictures on the convolution page (one of them over the upload limit). Meanwhile a fourth tab
presses Train during the run: its run waits in the queue (position 1), then it cancels. Checked: every page works, no session shows
another's uploads or settings, one run only, and the memory of the server's process tree (the server and
its training process) stays bounded. Loopback only; every wait has a time limit.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import numpy as np
import psutil
import pytest
from PIL import Image

from cnn_core import settings
from cnn_core.datasets.cifar import CIFAR10_CLASSES

from helpers.memory import PeakMemory, tree_pids, tree_rss
from helpers.paths import CHROMIUM_ARGS
from helpers.runs import wait_until

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000  # first visits import TensorFlow on a shared 2-core machine
TRAIN_LINK = "/training?filters=%5B8%5D&epochs=300&batch_size=128"  # stopped by the test after epoch 1
TRAINER_MODEL = "load-trainer"
CONV_UPLOAD, CLASSIFY_UPLOAD = "conv-upload-7f3.png", "classify-upload-9c1.png"
MAX_TREE_RSS_BYTES = 3 * 2**30  # generous: measured 1.45 GB at peak (server with TensorFlow + training process)


def server_pid(url: str) -> int:
    """The pid of the `streamlit run` process listening on the URL's port."""
    port = urlparse(url).port
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            return connection.pid
    raise AssertionError(f"no process listens on port {port}")


# --- The scenario. ---


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[-2000:]


def scenario(url, cifar_subset, tmp_path, oversized, trainer, classifier, convolver, second_trainer, started,
             timings) -> None:
    """The four tabs' steps, interleaved so that the run is training while the others work."""
    from cnn_core.training import runs

    trainer.goto(url + TRAIN_LINK)
    second_trainer.goto(url + "/training")
    convolver.goto(url + "/convolution")
    classifier.goto(url + "/classify")

    # 1. The trainer starts a run: the link's tiny network, the CIFAR-10 subset.
    filters = trainer.get_by_role("textbox", name="Filters per block")
    filters.wait_for()
    for label, text in (("Folder or archive path", str(cifar_subset)), ("Save the model as", TRAINER_MODEL)):
        box = trainer.get_by_role("textbox", name=label)
        box.fill(text)
        box.press("Enter")
    trainer.get_by_text(f"{3 * 3 * 3 * 8 + 8 + 15 * 15 * 8 * 10 + 10:,}", exact=True).wait_for()
    path_box = second_trainer.get_by_role("textbox", name="Folder or archive path")
    path_box.fill(str(cifar_subset))
    path_box.press("Enter")
    second_trainer.get_by_text("42,442", exact=True).wait_for()  # the seed preset's weights, before the run
    trainer.wait_for_timeout(500)
    trainer.get_by_role("button", name="Train", exact=True).click()
    trainer.get_by_role("button", name="Stop").first.wait_for()
    timings["run started"] = time.monotonic() - started

    # 2. Meanwhile, the convolution page: a picture, then one over the upload limit.
    convolver.get_by_text("Convolution output:").first.wait_for()
    convolver.locator("input[type=file]").set_input_files(str(tmp_path / CONV_UPLOAD))
    convolver.get_by_text("Convolution output: 78 × 98").wait_for()
    convolver.locator("input[type=file]").set_input_files(str(oversized))
    convolver.get_by_text(re.compile(r"must be 20(\.0)? ?MB or smaller")).wait_for()
    no_exception(convolver)
    timings["convolution done"] = time.monotonic() - started

    # 3. ... and the classify page: a photo, classified by the default model ("name: class (97.1%)").
    classifier.get_by_text("Upload photos").wait_for()
    uploader = classifier.locator('[data-testid="stFileUploader"]').filter(has_text="Upload photos")
    uploader.locator('input[type="file"]').set_input_files(str(tmp_path / CLASSIFY_UPLOAD))
    classifier.get_by_text(re.compile(re.escape(CLASSIFY_UPLOAD) + r": .+ \(\d+(\.\d)?%\)")).first.wait_for()
    no_exception(classifier)
    timings["classified"] = time.monotonic() - started

    # 4. A second training request while the run trains joins the queue (one slot: CNN_STUDIO_MAX_RUNS=1), sees
    #    its place in line, and cancels: never a crash or a second run training at once.
    assert runs.active_run() is not None, "the run ended before the queue check"
    second_trainer.get_by_role("button", name="Train", exact=True).click()
    second_trainer.get_by_text(re.compile(r"number 1 in line")).first.wait_for()
    no_exception(second_trainer)
    assert sorted(status["state"] for status in runs.list_runs()) == ["queued", "running"]
    second_trainer.get_by_role("button", name="Cancel", exact=True).click()
    wait_until(lambda: sorted(status["state"] for status in runs.list_runs()) == ["cancelled", "running"], 30)
    timings["queued and cancelled"] = time.monotonic() - started

    # 5. No session shows another's state: settings, names and uploads stay where they were made.
    assert second_trainer.get_by_role("textbox", name="Filters per block").input_value() == "32, 64"
    assert second_trainer.get_by_role("textbox", name="Save the model as").input_value() == "my-cnn"
    assert filters.input_value() == "8"
    for page, foreign in ((trainer, (CONV_UPLOAD, CLASSIFY_UPLOAD)), (classifier, (CONV_UPLOAD,)),
                          (convolver, (CLASSIFY_UPLOAD, TRAINER_MODEL)), (second_trainer, (CONV_UPLOAD, CLASSIFY_UPLOAD))):
        text = page.inner_text("body")
        assert not [name for name in foreign if name in text], page.url

    # 6. The trainer waits for its first epoch, stops, and gets the report and a saved model.
    trainer.get_by_text("Loss per epoch").first.wait_for()
    trainer.get_by_role("button", name="Stop").first.click()
    trainer.get_by_text("Test accuracy").first.wait_for()
    no_exception(trainer)
    timings["run stopped and saved"] = time.monotonic() - started


@pytest.fixture()
def hosting_priority(monkeypatch):
    """The run trains at the hosting default's lowered priority (the suite's is normal): the server must hold."""
    monkeypatch.setenv("CNN_STUDIO_TRAINING_NICE", str(settings.DEFAULT_TRAINING_NICE))


def test_three_sessions_at_once_stay_apart_and_the_server_holds(hosting_priority, streamlit_server, chromium_path,
                                                                 cifar_subset, app_dirs, tmp_path):
    from playwright.sync_api import sync_playwright

    from cnn_core.models import registry
    from cnn_core.training import runs

    if not registry.list_models():  # the shipped model (copied by the fixture) classifies; else a tiny one
        from cnn_core.training.config import TrainConfig
        from cnn_core.training.model import build_model

        registry.save_model(build_model(TrainConfig(filters=[4])), "tiny", {"config": TrainConfig(filters=[4]).to_dict(),
                                                                           "class_names": CIFAR10_CLASSES})
    picture = np.full((80, 100, 3), 40, dtype=np.uint8)
    picture[20:60, 30:70] = 220
    Image.fromarray(picture).save(tmp_path / CONV_UPLOAD)
    Image.new("RGB", (90, 60), (30, 120, 220)).save(tmp_path / CLASSIFY_UPLOAD)
    oversized = tmp_path / "oversized.png"
    oversized.write_bytes(np.random.default_rng(0).bytes(21 * 2**20))  # over maxUploadSize = 20 (MB)

    memory = PeakMemory(server_pid(streamlit_server))
    memory.start()
    started = time.monotonic()
    timings = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        trainer, classifier, convolver = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                                          for _ in range(3))
        second_trainer = classifier.context.new_page()  # another tab: a second person about to press Train
        for page in (trainer, classifier, convolver, second_trainer):
            page.set_default_timeout(TIMEOUT_MS)
        pages = {"trainer": trainer, "classifier": classifier, "convolver": convolver, "second": second_trainer}
        try:
            scenario(streamlit_server, cifar_subset, tmp_path, oversized, trainer, classifier, convolver,
                     second_trainer, started, timings)
        except Exception:
            for name, page in pages.items():  # what each person saw, for the failure report
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
                print(f"\n--- {name} ({page.url}) ---\n{page.inner_text('body')[-1500:]}")
            raise
        browser.close()

    trained = [status for status in runs.list_runs() if status["state"] != "cancelled"]  # the queued one cancelled
    run = trained[0]
    assert len(trained) == 1 and run["state"] == "stopped" and run["model_saved"]
    assert registry.load_metadata(TRAINER_MODEL)["epochs_trained"] >= 1
    deadline = time.monotonic() + 30
    while run["pid"] in tree_pids(memory.root) and time.monotonic() < deadline:
        time.sleep(0.2)  # the training process ends with its run
    memory.stop()
    after = tree_rss(memory.root)
    print(f"\nload test: {timings}; server tree peak RSS {memory.peak / 2**20:.0f} MB "
          f"({memory.peak_processes} processes, {memory.samples} samples); after the run: {after / 2**20:.0f} MB")
    assert run["pid"] not in tree_pids(memory.root)
    assert memory.samples > 10 and 0 < memory.peak < MAX_TREE_RSS_BYTES

"""The server's life with a real `streamlit run app.py`: a restart trains the queue with nobody on the site, and
SIGTERM (how hosts stop an app) ends the server within seconds, its run recorded and requeued, never lost."""

from __future__ import annotations

import signal
import time

import pytest

from cnn_core.server import queue
from cnn_core.training import launch, resume, runs
from cnn_core.training.config import TrainConfig

from helpers.runs import TINY, first_epoch_seen, wait_until
from helpers.server import free_port, start_server, stop_server

pytestmark = pytest.mark.slow
LONG = TrainConfig(**TINY, epochs=1000)
ENV = {"CNN_STUDIO_DISPATCHER": "on", "CNN_STUDIO_MAX_RUNS": "1"}  # a real server dispatches its own queue


def test_sigterm_ends_the_server_in_seconds_and_its_run_resumes_after_the_restart(app_dirs, cifar_subset, tmp_path):
    run_id = queue.submit(LONG, launch.make_request(LONG, str(cifar_subset), "long", max_images=512), owner="ann")
    waiting = queue.submit(LONG, launch.make_request(LONG, str(cifar_subset), "next", max_images=512), owner="ben")
    port, log = free_port(), tmp_path / "server.log"
    server = start_server(port, ENV, log)
    try:  # nobody opens a page: the server's own lifespan started the dispatcher
        wait_until(lambda: first_epoch_seen(run_id), timeout=240)
        assert resume.read_checkpoint(run_id) is not None
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        stopped_after = time.monotonic() - began
    finally:
        stop_server(server)
    assert stopped_after < 10, f"the server took {stopped_after:.1f} s to stop"
    status = runs.read_status(run_id)
    assert status["state"] == "interrupted" and status["requeue"], status
    assert runs.read_status(waiting)["state"] == "queued"
    server = start_server(port, ENV, log)  # the restart: again, no browser
    try:
        resumed = wait_until(lambda: runs.read_status(run_id).get("requeued_as"), timeout=60)
        wait_until(lambda: runs.read_status(resumed)["state"] == "running", timeout=240)  # first in line again
        assert runs.read_request(resumed)["resume_from"] == run_id  # from its checkpoint, not from scratch
        assert runs.read_status(resumed)["owner"] == "ann" and runs.read_status(waiting)["state"] == "queued"
    finally:
        stop_server(server)

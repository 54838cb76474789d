"""The dispatcher: fills the slots with the oldest queued runs, never starts a run twice, survives restarts."""

from __future__ import annotations

from datetime import datetime

import pytest

from cnn_core.server import dispatcher, queue
from cnn_core.training import launch, runs
from cnn_core.training.config import TrainConfig

from helpers.processes import as_background_job
from helpers.runs import TINY, wait_until

pytestmark = pytest.mark.slow
CONFIG = TrainConfig(**TINY, epochs=1)


def submit(data, owner: str, name: str) -> str:
    return queue.submit(CONFIG, launch.make_request(CONFIG, str(data), name, max_images=64), owner=owner)


def _started_at(status: dict) -> float:
    return datetime.fromisoformat(status["started"]).timestamp()


def _ended_at(status: dict) -> float:
    return datetime.fromisoformat(status["ended"]).timestamp()


def ended(run_id: str) -> bool:
    return runs.read_status(run_id)["state"] not in ("queued", *runs.ACTIVE_STATES)


def test_one_slot_trains_queued_runs_one_after_another_each_once(app_dirs, cifar_subset, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_MAX_RUNS", "1")
    first, second, cancelled = (submit(cifar_subset, owner, owner) for owner in ("ann", "ben", "cat"))
    queue.cancel(cancelled)
    assert dispatcher.dispatch_once() == [first]
    assert dispatcher.dispatch_once() == []  # the slot is taken: a second dispatcher starts nothing
    assert runs.read_status(second)["state"] == "queued"
    place = queue.positions()[second]  # the run ahead has no budget: the server's 300 s cap is its estimate
    assert place["position"] == 1 and 250 < place["eta"] <= 300
    wait_until(lambda: ended(first), timeout=300)
    assert dispatcher.dispatch_once() == [second]
    wait_until(lambda: ended(second), timeout=300)
    assert dispatcher.dispatch_once() == []
    for run_id, name in ((first, "ann"), (second, "ben")):
        status = runs.read_status(run_id)
        assert status["state"] == "finished", status
        assert [event["type"] for event in runs.read_events(run_id)].count("start") == 1  # trained once
        assert (app_dirs["models"] / name / "model.keras").is_file()
    assert runs.read_status(cancelled)["state"] == "cancelled"
    assert not (app_dirs["models"] / "cat").exists()


def test_a_claimed_run_whose_dispatcher_died_reads_interrupted_and_is_not_started_again(app_dirs, monkeypatch):
    run_id = queue.submit(CONFIG, launch.make_request(CONFIG, None, "lost"), owner="dan")
    with queue.queue_lock():
        queue.set_queued_status(run_id, "queued", state="starting", dispatched="2020-01-01T00:00:00+00:00")
    assert runs.read_status(run_id)["state"] == "interrupted"  # claimed long ago, never launched
    assert dispatcher.dispatch_once() == []


def test_the_cli_worker_dispatches_without_a_web_server_and_its_end_interrupts_its_run(app_dirs, cifar_subset):
    import os
    import signal
    import subprocess
    import sys

    from helpers.paths import PROJECT_ROOT

    long = TrainConfig(**TINY, epochs=500)
    run_id = queue.submit(long, launch.make_request(long, str(cifar_subset), "by-worker", max_images=64), owner="eve")
    waiting = queue.submit(long, launch.make_request(long, str(cifar_subset), "next", max_images=64), owner="fay")
    # stderr to a file (an unread pipe blocks its writer once full), shown if the worker does not end. The worker
    # waits for its run to record "interrupted": beside a busy suite, with the run at lowered priority, that took
    # over 60 s twice (its start-up alone took 130-250 s); the suite's runs now train at normal priority.
    log_path = app_dirs["runs"].parent / "worker.log"
    log = open(log_path, "w")
    # Started as a script's background job (SIGINT ignored, inherited by its runs): Ctrl-C must stop it all the same.
    worker = subprocess.Popen([sys.executable, "-m", "cnn_core", "worker", "--poll", "0.2"], cwd=PROJECT_ROOT,
                              env={**os.environ, "CNN_STUDIO_MAX_RUNS": "1"}, stderr=log, text=True,
                              preexec_fn=as_background_job)
    try:
        wait_until(lambda: runs.read_status(run_id)["state"] == "running", timeout=300)
        assert runs.read_status(waiting)["state"] == "queued"  # one slot
    finally:
        worker.send_signal(signal.SIGINT)  # Ctrl-C: the keeper stops the worker
        try:
            worker.wait(timeout=180)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise AssertionError("the worker was alive 180 s after Ctrl-C; its stderr:\n" + log_path.read_text()[-3000:]
                                 + "\nthe run's log:\n" + (app_dirs["runs"] / run_id / "log.txt").read_text(errors="replace")[-3000:]) from None
        finally:
            log.close()
    wait_until(lambda: runs.read_status(run_id)["state"] == "interrupted", timeout=60)
    assert runs.read_status(waiting)["state"] == "queued"  # the queue is kept for the next dispatcher
    assert queue.positions()[waiting]["position"] == 1


def test_in_public_mode_a_run_keeps_the_epochs_it_asked_for_and_a_run_too_long_for_the_cap_is_planned_shorter(
        app_dirs, cifar_subset, monkeypatch, capsys):
    """The server's cap is a ceiling, never a target: `submit --epochs 2` trains exactly 2 epochs (it once became 187,
    holding the only slot for the whole cap); 1,000 epochs that cannot fit are re-planned shorter before training."""
    import json

    from cnn_core.cli.main import main

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setenv("CNN_STUDIO_MAX_RUN_SECONDS", "25")
    monkeypatch.setenv("CNN_STUDIO_MAX_RUNS", "1")
    monkeypatch.setenv("CNN_STUDIO_DATA_ROOTS", str(cifar_subset.parent))
    (app_dirs["data"] / "tiny.json").write_text(json.dumps(TINY))
    assert main(["submit", "--data", str(cifar_subset), "--config", str(app_dirs["data"] / "tiny.json"),
                 "--epochs", "2", "--name", "two", "--owner", "ann", "--max-images", "128"]) == 0
    two = json.loads(capsys.readouterr().out)["run_id"]
    assert dispatcher.dispatch_once() == [two]
    wait_until(lambda: ended(two), timeout=300)
    start = next(event for event in runs.read_events(two) if event["type"] == "start")
    assert runs.read_status(two)["state"] == "finished" and start["epochs"] == 2 and start["max_seconds"] == 25
    assert len(runs.history(two)) == 2
    long = TrainConfig(**TINY, epochs=1000)
    many = queue.submit(long, launch.make_request(long, str(cifar_subset), "many", max_images=128), owner="ben")
    assert dispatcher.dispatch_once() == [many]
    wait_until(lambda: ended(many), timeout=300)
    start = next(event for event in runs.read_events(many) if event["type"] == "start")
    assert start["asked_epochs"] == 1000 and 1 <= start["epochs"] < 1000  # planned shorter, before training
    status, replans = runs.read_status(many), [e for e in runs.read_events(many) if e["type"] == "replan"]
    assert status["state"] == "finished" and len(runs.history(many)) <= 1000  # never more than asked
    assert len(runs.history(many)) == (replans[-1]["epochs"] if replans else start["epochs"])  # the plan, kept
    seconds = _ended_at(status) - _started_at(status)
    assert seconds < 25 + 10  # under the ceiling (its grace aside)


def test_a_run_past_its_time_limit_is_ended_from_outside_and_the_next_one_starts(app_dirs, cifar_subset, monkeypatch):
    """A run stuck where it never looks at its own clock (one run sat in "loading" for 6 minutes with a 300 s limit)
    is ended by the dispatcher once past its limit and grace: the process goes, the run says why, the queue moves."""
    import time

    from cnn_core import processes

    monkeypatch.setenv("CNN_STUDIO_MAX_RUNS", "1")
    long = TrainConfig(**TINY, epochs=1000, time_budget_seconds=300)
    request = {**launch.make_request(long, str(cifar_subset), "stuck", max_images=64), "max_seconds": 300}
    stuck = queue.submit(long, request, owner="gil")  # the server's ceiling, as public mode sets it
    after = submit(cifar_subset, "hal", "after")
    assert dispatcher.dispatch_once() == [stuck]
    wait_until(lambda: runs.read_status(stuck).get("pid"), timeout=300)
    assert dispatcher.enforce_limits() == []  # within its limit: left alone
    pid = runs.read_status(stuck)["pid"]
    limit = 300 + dispatcher.LIMIT_GRACE_SECONDS + 30
    assert dispatcher.enforce_limits(now=time.time() + limit + 5) == [stuck]  # as if it had been stuck that long
    assert not processes.process_alive(pid)
    status = runs.read_status(stuck)
    assert status["state"] == "failed" and status["error_key"] == "errors.training.over_time_limit"
    assert "time limit of 300 s" in status["error"]
    assert dispatcher.dispatch_once() == [after]  # the slot is free again
    # A run without the server's ceiling (a desktop's, whose budget is its own plan) is never ended from outside.
    assert dispatcher.enforce_limits(now=time.time() + 10 * limit) == []
    wait_until(lambda: ended(after), timeout=300)

"""The dispatcher: starts queued runs when a slot frees, whether or not any page is open.

`dispatch_once()` fills free slots (`settings.max_runs()` runs training at once, counted over the whole
runs folder) with the oldest queued runs. Under the queue lock it rewrites each chosen run's status from
"queued" to "starting" and only then launches it, so a run can be claimed once only, whoever else
dispatches. The web server runs it in one background thread that belongs to the server process, not to
any visitor's session (`ensure_dispatcher`); `python -m cnn_core worker` runs the same loop without it.

Training processes are children of whichever dispatcher started them and end with it (they then read
"interrupted", and their owner can resume them); queued runs simply wait for the next dispatcher.
Where a Ray cluster is configured (settings.ray_address), runs go there instead (cnn_core.server.ray_backend).

The ceiling a public server gives each run holds from the outside too: each poll, `enforce_limits` ends a run it
dispatched that has passed its ceiling plus a grace (a stuck "loading" never checks its own clock), records why, and
the freed slot goes to the next queued run.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from typing import Any

from cnn_core import settings
from cnn_core.atomic import read_json
from cnn_core.processes import end_process
from cnn_core.server.queue import QUEUED, queue_lock, queue_order, set_queued_status
from cnn_core.training.runs import (
    ACTIVE_STATES,
    TrainingError,
    append_event,
    list_runs,
    now_iso,
    read_request,
    read_status,
    run_folder,
    update_status,
)

POLL_SECONDS = 1.0  # how soon a freed slot is filled; a poll reads the small status files only
LIMIT_GRACE_SECONDS = 30.0  # past its limit a run gets this plus 10 % of the limit to end by itself (it aims at 100 %)
_THREAD: list[tuple[threading.Thread, threading.Event]] = []  # the running thread and its stop event
_THREAD_LOCK = threading.Lock()


def launch(run_id: str) -> None:
    """Start a claimed run: on the Ray cluster when one is configured, else as a local process."""
    if settings.ray_address():
        from cnn_core.server.ray_backend import submit_to_ray  # imported only when configured

        submit_to_ray(run_id)
        return
    from cnn_core.training.launch import spawn_run

    spawn_run(run_id, settings.training_nice())


def dispatch_once() -> list[str]:
    """Start as many queued runs as there are free slots; returns the ids started."""
    started = []
    with queue_lock():
        statuses = list_runs()
        free = settings.max_runs() - sum(status["state"] in ACTIVE_STATES for status in statuses)
        for status in queue_order(statuses)[:max(free, 0)]:
            run_id = status["run_id"]
            if not set_queued_status(run_id, QUEUED, state="starting", dispatched=now_iso()):
                continue  # cancelled meanwhile
            try:
                launch(run_id)
            except Exception as error:  # a process or Ray task that cannot start: the run says why
                update_status(run_id, state="failed", ended=now_iso(), error=f"{type(error).__name__}: {error}")
                continue
            started.append(run_id)
    return started


def overdue(status: dict[str, Any], now: float) -> float | None:
    """The server's ceiling a run it dispatched has passed (by more than its grace), or None while it is within it.
    A time budget is the run's own plan, not a limit: a run may overrun it (a first download, an epoch that does not
    fit), and a run started by hand (the CLI, a desktop) is not the server's to end."""
    if status["state"] not in ACTIVE_STATES or status.get("ray") or not status.get("dispatched"):
        return None  # (a Ray run's relay shares this server's pid)
    limit = float(read_request(status["run_id"]).get("max_seconds") or 0)
    try:
        elapsed = now - datetime.datetime.fromisoformat(status["dispatched"]).timestamp()
    except ValueError:
        return None
    return limit if limit and elapsed > limit + LIMIT_GRACE_SECONDS + 0.1 * limit else None


def enforce_limits(now: float | None = None) -> list[str]:
    """End every local run past its time limit and grace (its process asked, then killed); returns their ids."""
    ended, now = [], time.time() if now is None else now
    for status in list_runs():
        limit = overdue(status, now)
        if limit is None:
            continue
        launch = _launch_record(status)
        if launch["pid"] == os.getpid() or not end_process(launch["pid"], launch.get("pid_started")):
            continue
        if read_status(status["run_id"])["state"] in ("finished", "stopped"):
            continue  # it ended by itself meanwhile, its model saved: its own record stands
        # Otherwise the end is ours, whatever the process wrote as it went ("interrupted"; "failed" when the signal
        # landed in an import, as it can on a loaded machine): the record says why.
        append_event(status["run_id"], {"type": "failed", "error": f"over its time limit of {limit:.0f} s"})
        update_status(status["run_id"], state="failed", ended=now_iso(), error_key="errors.training.over_time_limit",
                      error_values={"seconds": round(limit)},
                      error=TrainingError("over_time_limit", seconds=round(limit)).text("en"))
        ended.append(status["run_id"])
    return ended


def _launch_record(status: dict[str, Any]) -> dict[str, Any]:
    """The run's process: from its status once it runs, else as the launcher recorded it (process.json)."""
    if status.get("pid"):
        return {"pid": status["pid"], "pid_started": status.get("pid_started")}
    try:
        return read_json(run_folder(status["run_id"]) / "process.json")
    except (OSError, ValueError):
        return {"pid": None}


def serve(stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """The web server's loop: end overdue runs and dispatch until `stop` is set (unless CNN_STUDIO_DISPATCHER=off
    leaves it to a worker); a failing poll (full disk, say) is retried, never ends the loop."""
    while not stop.is_set():
        try:
            if settings.web_dispatcher_enabled():
                enforce_limits()
                dispatch_once()
        except Exception:  # noqa: BLE001 - the loop must outlive any one bad poll
            pass
        stop.wait(poll_seconds)


def ensure_dispatcher() -> threading.Thread:
    """Start the server's one dispatcher thread (idempotent; safe from any session's script thread)."""
    with _THREAD_LOCK:
        if _THREAD and _THREAD[0][0].is_alive():
            return _THREAD[0][0]
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(stop,), name="cnn-studio-dispatcher", daemon=True)
        thread.start()
        _THREAD[:] = [(thread, stop)]
        return thread


def stop_dispatcher(timeout: float = 5.0) -> None:
    """Stop the dispatcher thread (a server shutting down): no run starts after this returns."""
    with _THREAD_LOCK:
        if _THREAD:
            thread, stop = _THREAD.pop()
            stop.set()
            thread.join(timeout)


def run_worker(poll_seconds: float = POLL_SECONDS, once: bool = False) -> int:
    """`python -m cnn_core worker`: dispatch until interrupted (or one pass with once=True); returns runs started."""
    count = 0
    while True:
        enforce_limits()
        count += len(dispatch_once())
        if once:
            return count
        time.sleep(poll_seconds)

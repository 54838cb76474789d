"""The dispatcher: starts queued runs when a slot frees, whether or not any page is open.

`dispatch_once()` fills free slots (`settings.max_runs()` runs training at once, counted over the whole
runs folder) with the oldest queued runs. Under the queue lock it rewrites each chosen run's status from
"queued" to "starting" and only then launches it, so a run can be claimed once only, whoever else
dispatches. The web server runs it in one background thread that belongs to the server process, not to
any visitor's session (`ensure_dispatcher`); `python -m cnn_core worker` runs the same loop without it.

Training processes are children of whichever dispatcher started them and end with it (they then read
"interrupted", and their owner can resume them); queued runs simply wait for the next dispatcher.
Where a Ray cluster is configured (settings.ray_address), runs go there instead (cnn_core.server.ray_backend).
"""

from __future__ import annotations

import threading
import time

from cnn_core.server import settings
from cnn_core.server.queue import QUEUED, queue_lock, queue_order, set_queued_status
from cnn_core.training.runs import ACTIVE_STATES, list_runs, now_iso, update_status

POLL_SECONDS = 1.0  # how soon a freed slot is filled; a poll reads the small status files only
_THREAD: list[threading.Thread] = []
_THREAD_LOCK = threading.Lock()


def launch(run_id: str) -> None:
    """Start a claimed run: on the Ray cluster when one is configured, else as a local process."""
    if settings.ray_address():
        from cnn_core.server.ray_backend import submit_to_ray  # imported only when configured

        submit_to_ray(run_id)
        return
    from cnn_core.training.launch import spawn_run

    spawn_run(run_id)


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


def serve(stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """The web server's loop: dispatch until `stop` is set (unless CNN_STUDIO_DISPATCHER=off leaves it to a
    worker); a failing poll (full disk, say) is retried, never ends the loop."""
    while not stop.is_set():
        try:
            if settings.web_dispatcher_enabled():
                dispatch_once()
        except Exception:  # noqa: BLE001 - the loop must outlive any one bad poll
            pass
        stop.wait(poll_seconds)


def ensure_dispatcher() -> threading.Thread:
    """Start the server's one dispatcher thread (idempotent; safe from any session's script thread)."""
    with _THREAD_LOCK:
        if _THREAD and _THREAD[0].is_alive():
            return _THREAD[0]
        thread = threading.Thread(target=serve, args=(threading.Event(),), name="cnn-studio-dispatcher", daemon=True)
        thread.start()
        _THREAD[:] = [thread]
        return thread


def run_worker(poll_seconds: float = POLL_SECONDS, once: bool = False) -> int:
    """`python -m cnn_core worker`: dispatch until interrupted (or one pass with once=True); returns runs started."""
    count = 0
    while True:
        count += len(dispatch_once())
        if once:
            return count
        time.sleep(poll_seconds)

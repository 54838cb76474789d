"""The training queue: Train always accepts (within limits), and runs wait their turn on disk.

There is no separate queue file to lose or tear: the queue *is* the run folders whose status.json says
"queued" (each written atomically by cnn_core.training.runs), in the order they were submitted. A server
restart therefore keeps the queue, and one damaged status file loses one entry, never the rest.

Every change of a queued run (submit, cancel, the dispatcher's claim) happens under one `filelock` lock
(runs_dir()/.queue.lock), so two visitors pressing Train in the same second, a visitor spamming Train,
or two dispatchers (the web server and `python -m cnn_core worker`) cannot break the limits or start a
run twice. States added here: "queued" (waiting for a slot) and "cancelled" (left the queue unstarted).

Limits: at most `max_queued()` runs wait at once; in public mode each owner has at most one run queued or
running, a network must fit a shared CPU (cnn_core.training.limits), each run's time is capped at
`max_run_seconds()` (a ceiling, never a target: see `capped`) and its data at `max_train_images()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import heapq
import time
from typing import Any, Iterator

from filelock import FileLock, Timeout

from cnn_core import settings
from cnn_core.atomic import read_json, write_json_atomic
from cnn_core.i18n import TranslatableError
from cnn_core.paths import runs_dir
from cnn_core.server.owners import Visitor, name_taken_by_other
from cnn_core.training.config import TrainConfig
from cnn_core.training.limits import check_cost
from cnn_core.training.resume import continuation, read_checkpoint
from cnn_core.training.runs import (
    ACTIVE_STATES,
    create_run,
    list_runs,
    now_iso,
    read_config,
    read_request,
    read_status,
    run_folder,
    update_status,
)

QUEUED = "queued"
CANCELLED = "cancelled"
LOCK_TIMEOUT_SECONDS = 30  # a submit waits at most this long for another one (each holds the lock for ms)


class QueueError(TranslatableError, ValueError):
    """A run the queue refuses (limits) or a queued run that cannot be cancelled."""

    section = "errors.queue"


@contextlib.contextmanager
def queue_lock() -> Iterator[None]:
    """One writer of queued runs at a time, across threads and processes (Windows and macOS too)."""
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(root / ".queue.lock"), timeout=LOCK_TIMEOUT_SECONDS):
            yield
    except Timeout:
        raise QueueError("lock_timeout") from None


def capped(config: TrainConfig, request: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """Public mode: CostError for a network too big for a shared server; the run's time and images within limits.

    The time cap is a ceiling, never a target: a budget above it is lowered to it (a budget is filled), and a run
    without one keeps the epochs it asked for, with the cap as `max_seconds` in its request: it plans fewer epochs
    only if they would not fit (cnn_core.training.job), and the dispatcher ends it if it runs past the cap.
    """
    if not settings.public_mode():
        return config, request
    check_cost(config)
    cap = float(settings.max_run_seconds())
    if config.time_budget_seconds > cap:
        config = dataclasses.replace(config, time_budget_seconds=cap)
    images = settings.max_train_images()
    return config, {**request, "max_seconds": cap, "max_images": min(request.get("max_images") or images, images)}


def run_limit(config: dict[str, Any], request: dict[str, Any]) -> float:
    """Seconds a run may take: its time budget, else the ceiling the server gave it; 0 when it has neither."""
    budget = float(config.get("time_budget_seconds") or 0)
    return budget if budget > 0 else float(request.get("max_seconds") or 0)


def budget_seconds(config: dict[str, Any], request: dict[str, Any]) -> float:
    """What a run may take, for the queue's ETA: its limit, else the server's cap as an estimate."""
    return run_limit(config, request) or float(settings.max_run_seconds())


def submit(config: TrainConfig, request: dict[str, Any], owner: str, display_name: str = "", admin: bool = False) -> str:
    """Queue a run (request as made by launch.make_request); returns its run id. QueueError when over a limit,
    or (public mode) when the model name belongs to someone else."""
    config, request = capped(config, request)
    request = {**request, "owner": owner}
    with queue_lock():
        statuses = list_runs()
        if taken := name_taken_by_other(request["model_name"], Visitor(owner, admin=admin), statuses):
            raise QueueError("name_taken", name=taken)
        waiting = [status for status in statuses if status["state"] == QUEUED]
        if len(waiting) >= settings.max_queued():
            raise QueueError("full", limit=settings.max_queued())
        if settings.public_mode():
            mine = next((status for status in statuses if status.get("owner") == owner
                         and status["state"] in (QUEUED, *ACTIVE_STATES)), None)
            if mine:
                raise QueueError("one_per_owner", run_id=mine["run_id"])
        return create_run(config.to_dict(), request, state=QUEUED, owner=owner, display_name=display_name,
                          queued=now_iso(), queued_at=time.time(),
                          budget_seconds=budget_seconds(config.to_dict(), request))


def queue_order(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queued runs, first submitted first."""
    waiting = [status for status in statuses if status["state"] == QUEUED]
    return sorted(waiting, key=lambda status: (status.get("queued_at") or 0, status["run_id"]))


def _remaining(status: dict[str, Any], now: float) -> float:
    """Seconds a training run still has of its budget (0 once over it)."""
    try:
        started = datetime.datetime.fromisoformat(status.get("started") or status.get("dispatched") or "").timestamp()
    except ValueError:
        started = now
    return max(0.0, float(status.get("budget_seconds") or settings.max_run_seconds()) - (now - started))


def positions(statuses: list[dict[str, Any]] | None = None, slots: int | None = None) -> dict[str, dict[str, float]]:
    """{run_id: {"position": 1-based place in line, "eta": seconds until it should start}} of queued runs.

    The ETA plays the queue forward: each slot frees when its run's budget runs out, and the next run in line
    takes the slot that frees first.
    """
    statuses = list_runs() if statuses is None else statuses
    slots = settings.max_runs() if slots is None else slots
    now = time.time()
    busy = sorted(_remaining(status, now) for status in statuses if status["state"] in ACTIVE_STATES)
    free_at = (busy + [0.0] * slots)[:slots] if len(busy) < slots else busy[:slots]
    heapq.heapify(free_at)
    result = {}
    for place, status in enumerate(queue_order(statuses), start=1):
        start = heapq.heappop(free_at)
        result[status["run_id"]] = {"position": place, "eta": start}
        heapq.heappush(free_at, start + float(status.get("budget_seconds") or settings.max_run_seconds()))
    return result


def set_queued_status(run_id: str, expected: str, **changes: Any) -> bool:
    """Rewrite a run's status only if it still says `expected` (call under queue_lock); whether it did."""
    path = run_folder(run_id) / "status.json"
    status = read_json(path)
    if status.get("state") != expected:
        return False
    write_json_atomic(path, {**status, **changes})
    return True


def cancel(run_id: str) -> None:
    """Take a queued run out of the line (the page and CLI check who asks); QueueError once it has started."""
    with queue_lock():
        state = read_status(run_id)["state"]
        if not set_queued_status(run_id, QUEUED, state=CANCELLED, ended=now_iso()):
            raise QueueError("not_queued", run_id=run_id, state=state)


def requeue_interrupted() -> list[str]:
    """Put runs that a server shutdown interrupted (marked `requeue` by cnn_core.server.lifecycle) back into the
    queue, at the place they had: a run with a checkpoint resumes from it (the epochs its plan had left), one without
    starts again. Each is requeued once (`requeued_as` names its new run); returns the new runs' ids."""
    created = []
    with queue_lock():
        for status in list_runs():
            if status["state"] == "interrupted" and status.get("requeue") and not status.get("requeued_as"):
                new_id = create_run(*_requeued_request(status["run_id"]), state=QUEUED, **{
                    key: status.get(key) for key in ("owner", "display_name", "queued_at", "budget_seconds")},
                    queued=now_iso(), requeued_from=status["run_id"])
                update_status(status["run_id"], requeued_as=new_id)
                created.append(new_id)
    return created


def _requeued_request(run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, request) of a requeued run: resuming from the checkpoint when it has one (cnn_core.training.resume)."""
    config, request = read_config(run_id), read_request(run_id)
    checkpoint = read_checkpoint(run_id)
    if checkpoint is None:
        return config, request
    return continuation(run_id, checkpoint), {**request, "resume_from": run_id}

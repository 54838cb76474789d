"""Run folders: how a training run is recorded on disk, and how anyone reads it back.

Each run lives in `runs_dir()/<run_id>/`:

- `config.json`    the TrainConfig, `request.json` {data, model_name, resume_from, max_images}
- `status.json`    {"run_id", "state" (queued, starting, running, finished, stopped, failed, interrupted,
                   cancelled: see cnn_core.server.queue for the first and last), "pid", "created", "started", "ended", "error",
                   "model_name", "epochs",
                   "data_source", "test_accuracy", ...}, rewritten atomically by the process that trains
- `events.jsonl`   one JSON object per line, appended and flushed as they happen (see cnn_core.training.launch)
- `checkpoint.json` + `checkpoint-<epoch>.weights.h5`  the training state after the last finished epoch, for
                   resuming exactly (cnn_core.training.resume); removed once a completed run's model is saved
- `STOP`           created by request_stop(); the training callback checks for it after each execution
- `predictions.npz` test-split labels, predictions and probabilities once the run has been evaluated
- `tensorboard/`   TensorBoard logs (train/ and validation/): `tensorboard --logdir runs` compares runs
- `log.txt`        the background process's stdout/stderr; `error.txt` the traceback of a failed run

Only the training process writes status.json after the run starts; readers never rewrite it. A run whose
status says "starting"/"running" but whose process is gone (killed, out of memory, server restarted)
*reads* as "interrupted". This module never imports TensorFlow, so pages can poll it cheaply.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import filelock

from cnn_core.atomic import read_json, to_json_line, write_json_atomic
from cnn_core.i18n import TranslatableError
from cnn_core.paths import runs_dir
from cnn_core.processes import process_alive, process_start_marker

ACTIVE_STATES = ("starting", "running")
RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
# A run still "starting" without a process id after this long was never launched (server died meanwhile).
STARTING_GRACE_SECONDS = 120
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "images_per_second", "elapsed"]


class TrainingError(TranslatableError, ValueError):
    """A run that cannot start or continue: nothing to resume, a dataset too small to train on, ..."""

    section = "errors.training"


class RunNotFoundError(TranslatableError, ValueError):
    """No run with this id exists (or the id is malformed)."""

    section = "errors.runs"


class BusyError(TranslatableError, RuntimeError):
    """Another training run is already active on this server."""

    section = "errors.runs"


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string (seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """A sortable, unique run id: `YYYYmmdd-HHMMSS-xxxxxx`."""
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def run_folder(run_id: str) -> Path:
    """The folder of a run id (checked to be a run id, so it cannot point elsewhere)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise RunNotFoundError("bad_id", run_id=run_id)
    return runs_dir() / run_id


def existing_run_folder(run_id: str) -> Path:
    """Like run_folder, but RunNotFoundError if the run does not exist."""
    folder = run_folder(run_id)
    if not (folder / "status.json").is_file():
        raise RunNotFoundError("no_such_run", run_id=run_id)
    return folder


LOCK_TIMEOUT_SECONDS = 30  # a lock held longer than this belongs to a stuck process: give up with a message


def runs_lock() -> filelock.FileLock:
    """Serialise "is a run active? then start one" across threads and processes, on every OS.

    `filelock` uses the system's own locks (fcntl on POSIX, msvcrt on Windows); the OS releases them when
    a holder dies, so a killed server never leaves the lock taken.
    """
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(root / ".lock", timeout=LOCK_TIMEOUT_SECONDS)


def create_run(config: dict[str, Any], request: dict[str, Any], *, state: str = "starting", **fields: Any) -> str:
    """Make a new run folder with its config, request and a "starting" status; returns the run id.

    The queue (cnn_core.server.queue) creates runs as state="queued" with extra status fields (owner, ...).
    """
    run_id = new_run_id()
    folder = run_folder(run_id)
    folder.mkdir(parents=True)
    try:
        write_json_atomic(folder / "config.json", config)
        write_json_atomic(folder / "request.json", request)
        (folder / "events.jsonl").touch()
        write_json_atomic(  # last: a folder without status.json is not a run
            folder / "status.json",
            {
                "run_id": run_id, "state": state, "pid": None, "created": now_iso(), "started": None,
                "ended": None, "error": None, "model_name": request.get("model_name"), "epochs": None,
                "data_source": None, "test_accuracy": None, **fields,
            },
        )
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)  # a full disk leaves no half-made run behind
        raise
    return run_id


def read_config(run_id: str) -> dict[str, Any]:
    """The run's TrainConfig as a dict."""
    return read_json(existing_run_folder(run_id) / "config.json")


def read_request(run_id: str) -> dict[str, Any]:
    """The run's request: data, model_name, resume_from, max_images."""
    return read_json(existing_run_folder(run_id) / "request.json")


def update_status(run_id: str, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into status.json (atomic rewrite); only the training process calls this."""
    path = existing_run_folder(run_id) / "status.json"
    status = read_json(path)
    status.update(changes)
    write_json_atomic(path, status)
    return status


def append_event(run_id: str, event: dict[str, Any]) -> None:
    """Append one event line to events.jsonl and flush it, so pollers see it at once."""
    with open(run_folder(run_id) / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write(to_json_line(event))
        handle.flush()


def read_events(run_id: str, since: int = 0) -> list[dict[str, Any]]:
    """Events from index `since` on (0 = all); a line still being written is left for the next poll."""
    import json

    path = existing_run_folder(run_id) / "events.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete (or empty)
    events = []
    for line in lines[since:]:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a torn line from a killed writer; skip it, keep the rest
            events.append({"type": "unreadable"})
    return events


# --- Is the training process still there? ---


def read_status(run_id: str) -> dict[str, Any]:
    """The run's status; an active run whose process has gone reads as "interrupted"."""
    status = read_json(existing_run_folder(run_id) / "status.json")
    if not isinstance(status, dict) or "state" not in status:
        raise RunNotFoundError("status_damaged", run_id=run_id)
    status.setdefault("run_id", run_id)
    if status.get("state") in ACTIVE_STATES and not _still_active(status):
        status["state"] = "interrupted"
        status["error"] = status.get("error") or (
            "The training process stopped unexpectedly (killed, out of memory, or the server restarted). "
            "Resume from its checkpoint to continue."
        )
    return status


def record_launch(run_id: str, pid: int) -> None:
    """Note the pid of a freshly spawned training process (written by the launcher, never by the child).

    A separate file, because the child rewrites status.json as soon as it starts: two writers of one file
    could undo each other's changes.
    """
    write_json_atomic(run_folder(run_id) / "process.json", {"pid": pid, "pid_started": process_start_marker(pid)})


def _still_active(status: dict[str, Any]) -> bool:
    if status.get("pid"):
        return process_alive(status["pid"], status.get("pid_started"))
    try:
        launch = read_json(run_folder(status["run_id"]) / "process.json")
        return process_alive(launch["pid"], launch.get("pid_started"))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not launched as a background process (yet)
    created = status.get("dispatched") or status.get("created") or ""  # a queued run starts when dispatched
    try:
        age = time.time() - datetime.datetime.fromisoformat(created).timestamp()
    except ValueError:
        return False
    return status.get("state") == "starting" and age < STARTING_GRACE_SECONDS


def list_runs() -> list[dict[str, Any]]:
    """Statuses of all runs, newest first (unreadable folders skipped)."""
    root = runs_dir()
    if not root.is_dir():
        return []
    statuses = []
    for folder in root.iterdir():
        if not RUN_ID_PATTERN.match(folder.name):
            continue
        try:
            statuses.append(read_status(folder.name))
        except (OSError, ValueError):
            continue
    return sorted(statuses, key=lambda status: (status.get("created") or "", status["run_id"]), reverse=True)


def active_run() -> str | None:
    """The id of the run that is training right now, if any."""
    for status in list_runs():
        if status["state"] in ACTIVE_STATES:
            return status["run_id"]
    return None


def request_stop(run_id: str) -> None:
    """Ask a run to stop after the current batch; it keeps and saves its best model so far."""
    (existing_run_folder(run_id) / "STOP").touch()


def stop_file(run_id: str) -> Path:
    """Path of the run's STOP file."""
    return run_folder(run_id) / "STOP"


def delete_run(run_id: str) -> None:
    """Delete an ended run's folder; BusyError while it is still training or waiting in the queue."""
    folder = existing_run_folder(run_id)
    state = read_status(run_id)["state"]
    if state in ACTIVE_STATES:
        raise BusyError("delete_while_training", run_id=run_id)
    if state == "queued":
        raise BusyError("delete_while_queued", run_id=run_id)
    trash = folder.with_name(f".deleting-{run_id}-{uuid.uuid4().hex[:8]}")
    os.replace(folder, trash)  # atomic, so listings never see a half-deleted run
    shutil.rmtree(trash, ignore_errors=True)


# --- History. ---


def history(run_id: str) -> list[dict[str, Any]]:
    """The run's epoch events, in order."""
    return [event for event in read_events(run_id) if event.get("type") == "epoch"]


def history_csv(run_id: str) -> str:
    """The run's per-epoch metrics as CSV text (header + one row per finished epoch)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for event in history(run_id):
        writer.writerow(event)
    return buffer.getvalue()


def tensorboard_zip(run_id: str) -> bytes:
    """The run's TensorBoard logs as a .zip (paths inside start with `<run_id>/`, ready for `--logdir`)."""
    folder = existing_run_folder(run_id) / "tensorboard"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{run_id}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()

"""Training jobs: a run trains in its own process and reports through files that any page can poll.

Why a separate process: a Streamlit rerun, page switch or closed tab must not stop training, and a
Streamlit stop signal raised inside a Keras callback would abort `fit()`. So `start_run` spawns a
fresh Python process (multiprocessing "spawn") that imports no Streamlit and writes `status.json` and
`events.jsonl` in the run folder (format in cnn_core.training.runs); the page only reads them. One run is
active per server at a time (`BusyError`). The command line calls `run_training` in-process.

Events, one JSON object per line of events.jsonl:
  {"type": "loading", "data", ["bytes_done", "bytes_total"] or ["images_done", "images_total"]}
                                           while the dataset downloads (bytes) or its class folders decode (images)
  {"type": "calibrating"}                  a time-budgeted run times a few real steps
  {"type": "start", "epochs", "initial_epoch", "steps_per_epoch", "steps_per_execution", "batch_size",
   "train_images", "validation_images", "test_images", "class_names", "data_source", "time_budget_seconds", "resumed_from",
   "progressive_resizing" (early epochs on shrunk images: validation lags until the last third),
   "mixup_alpha" (> 0: training loss and accuracy are on blended images), "filters", "weight_decay",
   "widened_from" (a long run's asked filters when it trains a wider network, else null),
   "calibration" (measured step/trace/validation seconds, budgeted runs only), "expected_seconds" (budgeted runs:
   the whole run as calibrated; more than the budget when not even one epoch fits), "max_seconds" (the server's
   ceiling for the run, or null), "asked_epochs" (the config's; more than "epochs" when they would not fit under
   the ceiling), "elapsed"}
  {"type": "batch", "epoch", "step", "loss", "accuracy", "images_per_second", "elapsed"}   ≤ ~3/s, smoothed
  {"type": "epoch", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
   "images_per_second", "elapsed", "eta"}          whole epochs only; val = the validation split (from training data)
  {"type": "stopped", "reason", "epochs_completed"}               after a Stop request
  {"type": "evaluating"}, {"type": "saving"}, then {"type": "finish", "test_accuracy", "validation_accuracy",
   "per_class_accuracy" {class: acc},
   "confusion_matrix" [[true x predicted]], "seconds", "model_name", "epochs_completed", "best_epoch",
   "images_per_second"}                                           also after a Stop, if an epoch finished
  {"type": "replan", "epochs", "elapsed"}  a time-budgeted run re-sized its schedule: epochs is the new count
  {"type": "failed", "error"} / {"type": "interrupted"}

Time budget (`config.time_budget_seconds` > 0): the budget covers the whole run, from the start of the
process (the CLI: its start, TensorFlow's import included) to the saved model. A short calibration picks
the epoch count, so the learning-rate schedule spans the budget (see cnn_core.training.pacing). A ceiling
(`max_seconds` in the request, set by a shared server's queue) is calibrated the same way, but only ever
shortens the run: it keeps the epochs it asked for when they fit.

Resuming from a run's checkpoint or a saved model: see cnn_core.training.resume.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable

from cnn_core.i18n import TranslatableError
from cnn_core.models.protection import check_writable
from cnn_core.models.registry import sanitize_name
from cnn_core.paths import models_dir, runs_dir
from cnn_core.processes import lower_priority, process_alive, process_start_marker
from cnn_core.training.config import TrainConfig
from cnn_core.training.data import load_request_data
from cnn_core.training.resume import check_resume_source
from cnn_core.training.runs import (
    ACTIVE_STATES,
    BusyError,
    TrainingError,
    active_run,
    append_event,
    create_run,
    now_iso,
    read_config,
    read_request,
    read_status,
    record_launch,
    run_folder,
    runs_lock,
    update_status,
)

EventHandler = Callable[[dict[str, Any]], None]
_CHILDREN: dict[str, multiprocessing.process.BaseProcess] = {}  # keeps Process objects so they get reaped


# --- Starting a run in the background. ---


def start_run(
    config: TrainConfig,
    data: str | None,
    model_name: str,
    *,
    resume_from: str | None = None,
    max_images: int | None = None,
    nice: int = 0,
) -> str:
    """Create a run and train it in a background process; BusyError if a run is already active.

    The direct way, for scripts and a desktop: a shared server queues runs instead (cnn_core.server.queue), under
    its limits.

    `max_images` keeps only the first N images of each split (quick trials and tests). Every run writes
    TensorBoard logs to runs/<id>/tensorboard. `nice`: how far the process lowers its priority (0: not at all).
    """
    request = make_request(config, data, model_name, resume_from=resume_from, max_images=max_images)
    with runs_lock():
        active = active_run()
        if active:
            raise BusyError("still_training", run_id=active)
        try:
            run_id = create_run(config.to_dict(), request)
        except OSError as error:  # a full or read-only disk: say so instead of failing with a traceback
            raise TrainingError("no_run_folder", path=str(runs_dir()), reason=str(error)) from None
        spawn_run(run_id, nice)
    return run_id


def spawn_run(run_id: str, nice: int = 0) -> int:
    """Start the background process of a run already created in state "starting" (the queue's dispatcher
    calls this too, with the hosting's nice value); returns its pid."""
    process = multiprocessing.get_context("spawn").Process(
        target=_child_main, args=(run_id, str(runs_dir()), str(models_dir()), nice), name=f"cnn-studio-{run_id}",
        daemon=True,  # a server that shuts down ends its training run; the run then reads "interrupted"
    )
    with _main_module_hidden():
        process.start()
    record_launch(run_id, process.pid)
    for old_id, old_process in list(_CHILDREN.items()):
        if not old_process.is_alive():
            del _CHILDREN[old_id]
    _CHILDREN[run_id] = process
    # Reap the child the moment it exits: a long-lived server would otherwise keep it as a zombie
    # (a process-table entry) until the next run starts.
    threading.Thread(target=process.join, name=f"reap-{run_id}", daemon=True).start()
    return process.pid


def local_children() -> dict[str, tuple[int, str | None]]:
    """{run id: (pid, start marker)} of the training processes this process started that still run."""
    return {run_id: (process.pid, process_start_marker(process.pid))
            for run_id, process in list(_CHILDREN.items()) if process.is_alive()}


def make_request(
    config: TrainConfig, data: str | None, model_name: str, *, resume_from: str | None = None,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Validate the inputs of a run (ConfigError, RegistryError, TrainingError) and return its request dict."""
    config.validate()
    if max_images is not None and int(max_images) < 1:
        raise TrainingError("bad_max_images", name="max_images")
    if resume_from:
        check_resume_source(resume_from)
    check_writable(sanitize_name(model_name), "overwrite")  # refused now, not after the whole run has trained
    return {
        "data": None if data is None else str(data), "model_name": sanitize_name(model_name),
        "resume_from": resume_from or None, "max_images": None if max_images is None else int(max_images),
    }


@contextlib.contextmanager
def _main_module_hidden():
    """Spawned children re-import the parent's __main__; under Streamlit that is the page script itself."""
    real_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real_main


def _child_main(run_id: str, runs_root: str, models_root: str, nice: int) -> None:
    """Entry point of the background process: train, with output going to the run's log.txt."""
    started = time.monotonic()
    os.environ["CNN_STUDIO_RUNS_DIR"], os.environ["CNN_STUDIO_MODELS_DIR"] = runs_root, models_root
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log = open(run_folder(run_id) / "log.txt", "ab", buffering=0)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # multiprocessing's terminate() on POSIX
    # A server started as a script's background job (`nohup streamlit run app.py &`) hands its children SIGINT
    # ignored, and interrupt_main() does nothing for an ignored signal: the parent watch would then never stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _end_with_parent(os.getppid())
    lower_priority(nice)  # the web server's own requests stay responsive on a small machine (bench/bench_shared.py)
    code = 1
    try:
        run_training(run_id, started=started)
        code = 0
    except BaseException:
        pass  # already recorded in status.json, events.jsonl and error.txt
    # Everything is on disk: end now. The interpreter's own teardown (TensorFlow loaded) took 21 s on 2 loaded
    # cores for this low-priority process, and until it ends a stopped server or worker waits and a slot stays taken.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(_STOP_REASON[0] or "the training process was asked to stop")


PARENT_POLL_SECONDS = 1.0


def _end_with_parent(parent_pid: int) -> None:
    """Stop this run (recorded as interrupted) if the server that started it dies, even by SIGKILL.

    A clean shutdown already ends daemonic children, but a killed or crashed server would leave an orphan
    training on unseen, which a restarted server would list as running. The kernel's parent-death signal
    cannot be used (Linux only, and it fires when the *thread* that started us ends: Streamlit runs each
    rerun in a new thread). So a thread watches the parent through psutil, which works on every OS, and
    interrupts the main thread the way Ctrl-C would, so the run is recorded as interrupted.
    """
    parent_started = process_start_marker(parent_pid)

    def watch() -> None:
        while process_alive(parent_pid, parent_started):
            time.sleep(PARENT_POLL_SECONDS)
        _STOP_REASON[0] = "the server that started it stopped"
        _thread.interrupt_main()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_STOP_REASON = [""]  # why the run was interrupted, when we interrupted it ourselves


# --- The job itself. ---


def run_training(run_id: str, *, on_event: EventHandler | None = None, started: float | None = None) -> dict[str, Any]:
    """Train the run in this process (the CLI and the background process call this); returns its summary.

    `started` (time.monotonic()) is when the time budget began, by default now. Errors are recorded as a
    "failed" run and re-raised.
    """
    started = time.monotonic() if started is None else started
    if read_status(run_id)["state"] not in ACTIVE_STATES:
        raise TrainingError("already_ended", run_id=run_id)
    update_status(
        run_id, state="running", pid=os.getpid(), pid_started=process_start_marker(os.getpid()), started=now_iso()
    )

    def emit(event: dict[str, Any]) -> None:
        append_event(run_id, event)
        if on_event is not None:
            on_event(event)

    try:
        from cnn_core.training.job import train_run  # imported here: it imports TensorFlow

        return train_run(run_id, emit, started)
    except (KeyboardInterrupt, SystemExit) as stop:
        reason = (str(stop) if isinstance(stop, KeyboardInterrupt) else "") or _STOP_REASON[0] or "process stopped"
        emit({"type": "interrupted", "reason": reason})
        update_status(
            run_id, state="interrupted", ended=now_iso(),
            error=f"Training was interrupted ({reason}). Resume from its checkpoint to continue.",
        )
        raise
    except Exception as error:
        message = describe_error(error)
        (run_folder(run_id) / "error.txt").write_text(traceback.format_exc())
        emit({"type": "failed", "error": message})
        update_status(run_id, state="failed", ended=now_iso(), error=message, **error_fields(error))
        raise


DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def readable_error(error: BaseException) -> BaseException:
    """The error as people should read it: a full or read-only disk becomes a TrainingError saying what to do."""
    if isinstance(error, OSError) and error.errno in DISK_ERRORS:
        reason = str(error.strerror or error)
        if error.filename:
            return TrainingError("disk_full_at", reason=reason, path=str(error.filename))
        return TrainingError("disk_full", reason=reason)
    return error


def describe_error(error: BaseException) -> str:
    """A message for people: our ValueErrors already are; anything else gets its type for context."""
    error = readable_error(error)
    if isinstance(error, ValueError) and type(error).__module__.startswith("cnn_core"):
        return str(error)
    return f"{type(error).__name__}: {error}"


def error_fields(error: BaseException) -> dict[str, Any]:
    """`error_key` and `error_values` for status.json, so the page can say why in the reader's language."""
    error = readable_error(error)
    if not isinstance(error, TranslatableError):
        return {}
    # JSON keeps numbers and text; anything else (a nested error, say) is kept as its English words.
    plain = {name: value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else str(value)
             for name, value in error.values.items()}
    return {"error_key": error.key, "error_values": plain}


# --- Run results for the page. ---


def test_predictions(run_id: str) -> dict[str, Any] | None:
    """{"labels", "predictions", "probabilities"} of the run's test split, or None before evaluation."""
    import numpy as np

    path = run_folder(run_id) / "predictions.npz"
    if not path.is_file():
        return None
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def run_dataset(run_id: str):
    """The dataset a run trained on, with the same image limit (to show the images behind results)."""
    return load_request_data(read_request(run_id), TrainConfig.from_dict(read_config(run_id)))


def wait_for(run_id: str, timeout: float = 600.0, poll_seconds: float = 0.2) -> dict[str, Any]:
    """Poll until the run is no longer active (tests, scripts); returns its final status."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(run_id)
        if status["state"] not in ACTIVE_STATES or time.monotonic() > deadline:
            if run_id in _CHILDREN and not _CHILDREN[run_id].is_alive():
                _CHILDREN.pop(run_id).join()
            return status
        time.sleep(poll_seconds)

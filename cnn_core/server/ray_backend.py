"""Training on a Ray cluster (lab PCs): queued runs become Ray actors; everything comes back through Ray.

Used only when CNN_STUDIO_RAY_ADDRESS (or RAY_ADDRESS) is set; Ray is an optional dependency
(requirements-ray.txt) imported by nothing else. No shared disk is assumed:

- the dispatcher (`submit_to_ray`) sends the run's config, request, status and its dataset (the typed path,
  zipped in memory) to a `RemoteRun` actor (num_cpus / num_gpus from CNN_STUDIO_RAY_NUM_CPUS, _NUM_GPUS);
  the actor trains in a temporary folder on whichever node Ray picked, with the very job a local run uses;
- a relay thread on the server polls the actor every second: new event lines are appended to the local
  events.jsonl, its status is mirrored into status.json (the relay is that file's one writer), a changed
  checkpoint is copied back, and the server's STOP file is passed on (so Stop and the time budget work);
- at the end the trained model comes back as bytes and is saved through the registry (protection, owners,
  the reload check), with the run's predictions and log;
- if the actor's node dies (RayActorError), the run is recorded as "interrupted" with a message, and its last
  checkpoint, already copied back, lets its owner resume it. The local status carries the server's pid, so a
  server restart also reads as "interrupted" (Ray ends the actors of a driver that is gone).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from cnn_core import settings
from cnn_core.atomic import read_json, temp_path_for, write_json_atomic
from cnn_core.paths import PROJECT_ROOT
from cnn_core.processes import process_start_marker
from cnn_core.training.resume import CHECKPOINT_INFO
from cnn_core.training.runs import (
    ACTIVE_STATES,
    append_event,
    now_iso,
    read_config,
    read_request,
    record_launch,
    run_folder,
    stop_file,
)

RELAY_POLL_SECONDS = 1.0
POLL_TIMEOUT_SECONDS = 60  # a node that answers nothing for this long is treated as gone
COPIED_BACK = ("predictions.npz", "error.txt", "log.txt")  # at the end; the checkpoint is copied as it changes
# The code travels to the workers; run data, models and tests stay here.
# gitignore-style: a leading "/" anchors at the project root (plain "models" would drop cnn_core/models too).
CODE_EXCLUDES = ["/runs", "/data", "/models", "/tests", "/bench", "/docs", "/.git", "/.venv", "*.pyc", "__pycache__",
                 ".ruff_cache", ".hypothesis"]


def pack(path: str) -> tuple[bytes, str]:
    """A dataset path (folder or file) as zip bytes, and its base name."""
    source = Path(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        files = [source] if source.is_file() else sorted(item for item in source.rglob("*") if item.is_file())
        for item in files:
            archive.write(item, item.name if source.is_file() else item.relative_to(source))
    return buffer.getvalue(), source.name


class RemoteRun:
    """One run, trained on a Ray node in a temporary folder (wrapped with ray.remote when submitted)."""

    def __init__(self, run_id: str, config: dict, request: dict, status: dict, data: tuple[bytes, str] | None):
        self.root = Path(tempfile.mkdtemp(prefix="cnn-studio-ray-"))
        for name in ("runs", "models", "data"):
            (self.root / name).mkdir()
            os.environ[f"CNN_STUDIO_{name.upper()}_DIR"] = str(self.root / name)
        if data is not None:
            target = self.root / "data" / data[1]
            with zipfile.ZipFile(io.BytesIO(data[0])) as archive:
                archive.extractall(target if not data[1].endswith((".zip", ".gz", ".tar")) else self.root / "data")
            request = {**request, "data": str(target)}
        self.run_id, self.folder = run_id, self.root / "runs" / run_id
        self.folder.mkdir()
        write_json_atomic(self.folder / "config.json", config)
        write_json_atomic(self.folder / "request.json", request)
        (self.folder / "events.jsonl").touch()
        import ray

        node = ray.get_runtime_context().get_node_id()  # which lab PC trains it, for the record
        write_json_atomic(self.folder / "status.json", {**status, "state": "starting", "pid": None,
                                                        "created": now_iso(), "ray_node": node})
        self.thread = threading.Thread(target=self._train, daemon=True)
        self.thread.start()

    def _train(self) -> None:
        try:
            from cnn_core.training.launch import run_training
        except Exception as error:  # the node lacks a package: the run fails with the reason, never hangs
            status = read_json(self.folder / "status.json")
            write_json_atomic(self.folder / "status.json", {**status, "state": "failed", "ended": now_iso(),
                                                            "error": f"{type(error).__name__}: {error}"})
            return
        try:
            run_training(self.run_id)
        except BaseException:  # recorded in status.json and events.jsonl by run_training
            pass

    def poll(self, since: int) -> dict[str, Any]:
        """Status, event lines from line `since` (complete lines only), and the checkpoint's mtime."""
        text = (self.folder / "events.jsonl").read_text(encoding="utf-8")
        lines = text.split("\n")[:-1]
        checkpoint = self.folder / CHECKPOINT_INFO  # replaced last when a checkpoint is saved
        return {"status": read_json(self.folder / "status.json"), "lines": lines[since:],
                "checkpoint": checkpoint.stat().st_mtime if checkpoint.exists() else None}

    def checkpoint(self) -> dict[str, bytes] | None:
        """The checkpoint's weights file, then the info that names it (a matching pair), or None."""
        try:
            info = (self.folder / CHECKPOINT_INFO).read_bytes()
            weights = json.loads(info)["weights"]
            return {weights: (self.folder / weights).read_bytes(), CHECKPOINT_INFO: info}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # being replaced at this moment: the next poll sees the new one

    def stop(self) -> None:
        (self.folder / "STOP").touch()

    def files(self, names: list[str]) -> dict[str, bytes]:
        return {name: (self.folder / name).read_bytes() for name in names if (self.folder / name).is_file()}

    def model(self, name: str) -> dict[str, Any] | None:
        folder = self.root / "models" / name
        if not (folder / "model.keras").is_file():
            return None
        return {"model": (folder / "model.keras").read_bytes(), "metadata": read_json(folder / "metadata.json")}

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _connect():
    import ray

    if not ray.is_initialized():
        node_ip = settings.setting("CNN_STUDIO_RAY_NODE_IP", None)  # this server's address as the nodes reach it
        ray.init(address=settings.ray_address(), namespace="cnn-studio", log_to_driver=False,
                 runtime_env={"working_dir": str(PROJECT_ROOT), "excludes": CODE_EXCLUDES},
                 **({"_node_ip_address": node_ip} if node_ip else {}))
    return ray


def _resources() -> dict[str, float]:
    return {"num_cpus": float(settings.setting("CNN_STUDIO_RAY_NUM_CPUS", 1) or 1),
            "num_gpus": float(settings.setting("CNN_STUDIO_RAY_NUM_GPUS", 0) or 0)}


def submit_to_ray(run_id: str) -> None:
    """Start a claimed run as a Ray actor and relay it (called by the dispatcher under the queue lock)."""
    ray = _connect()
    request = read_request(run_id)
    data = pack(request["data"]) if request.get("data") else None
    status = read_json(run_folder(run_id) / "status.json")
    actor = ray.remote(max_restarts=0, **_resources())(RemoteRun).remote(
        run_id, read_config(run_id), request, status, data)
    record_launch(run_id, os.getpid())  # the run lives as long as this server relays it
    threading.Thread(target=_relay, args=(run_id, actor), name=f"ray-relay-{run_id}", daemon=True).start()


def _mirror_status(run_id: str, remote: dict[str, Any], **extra: Any) -> None:
    """The remote status in the local status.json, with this server's pid (the relay is its one writer)."""
    write_json_atomic(run_folder(run_id) / "status.json", {
        **remote, **extra, "pid": os.getpid(), "pid_started": process_start_marker(os.getpid()), "ray": True})


def _relay(run_id: str, actor) -> None:
    """Follow the actor until its run ends or its node dies; see the module docstring."""
    import ray

    since, checkpoint, stopped, last = 0, None, False, {}
    try:
        while True:
            if not stopped and stop_file(run_id).exists():
                actor.stop.remote()
                stopped = True
            polled = ray.get(actor.poll.remote(since), timeout=POLL_TIMEOUT_SECONDS)
            _append_lines(run_id, polled["lines"])
            since += len(polled["lines"])
            if polled["checkpoint"] != checkpoint and _copy_checkpoint_back(run_id, actor):
                checkpoint = polled["checkpoint"]
            last = polled["status"]
            if last.get("state") not in ACTIVE_STATES:
                _finish(run_id, actor, last)
                return
            _mirror_status(run_id, last)
            time.sleep(RELAY_POLL_SECONDS)
    except Exception as error:  # RayActorError (node or worker died), GetTimeoutError, lost connection
        append_event(run_id, {"type": "interrupted", "reason": f"the Ray worker was lost ({type(error).__name__})"})
        _mirror_status(run_id, last or read_json(run_folder(run_id) / "status.json"), state="interrupted",
                       ended=now_iso(), error="The Ray worker training this run was lost (its node stopped or "
                       "crashed). Resume from its checkpoint to continue.")


def _append_lines(run_id: str, lines: list[str]) -> None:
    if lines:
        with open(run_folder(run_id) / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()


def _copy_back(run_id: str, actor, names: list[str]) -> None:
    import ray

    for name, content in ray.get(actor.files.remote(names), timeout=POLL_TIMEOUT_SECONDS).items():
        _write_atomic(run_folder(run_id) / name, content)


def _write_atomic(target: Path, content: bytes) -> None:
    temp = temp_path_for(target)
    try:
        temp.write_bytes(content)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _copy_checkpoint_back(run_id: str, actor) -> bool:
    """The node's checkpoint into the local run folder, weights before the info naming them; older weights go."""
    import ray

    files = ray.get(actor.checkpoint.remote(), timeout=POLL_TIMEOUT_SECONDS)
    if files is None:
        return False
    for name, content in files.items():
        _write_atomic(run_folder(run_id) / name, content)
    for old in run_folder(run_id).glob("checkpoint-*.weights.h5"):
        if old.name not in files:
            old.unlink(missing_ok=True)
    return True


def _finish(run_id: str, actor, remote: dict[str, Any]) -> None:
    """Copy results back, save the model through the registry, then mark the run ended (in that order)."""
    import ray

    _copy_back(run_id, actor, list(COPIED_BACK))
    result = ray.get(actor.model.remote(read_request(run_id)["model_name"]), timeout=POLL_TIMEOUT_SECONDS)
    extra: dict[str, Any] = {}
    if result is not None:
        try:
            _save_model(result["model"], result["metadata"])
        except Exception as error:  # protected or someone else's name, a full disk: the run says why
            extra = {"state": "failed", "model_saved": False, "error": f"{type(error).__name__}: {error}"}
    _mirror_status(run_id, remote, **extra)
    try:  # best effort: the run has ended and its results are home; a failed clean-up must not mark it interrupted
        ray.get(actor.cleanup.remote(), timeout=POLL_TIMEOUT_SECONDS)  # the node's temporary folder
        ray.kill(actor, no_restart=True)
    except Exception as error:  # the cluster went away meanwhile (RayActorError, ActorHandleNotFoundError...)
        logging.getLogger(__name__).warning("run %s: Ray clean-up failed: %s", run_id, error)


def _save_model(content: bytes, metadata: dict[str, Any]) -> None:
    """Save a model trained on a node through the registry (reloaded with safe_mode=True, checked, atomic)."""
    import keras

    from cnn_core.models.registry import save_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(content)
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    save_model(model, metadata["name"], metadata)

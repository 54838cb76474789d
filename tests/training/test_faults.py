"""Training faults: a killed process, a killed server, an exception, a full disk. Nothing saved is lost.

For each fault: the run is listed as failed or interrupted (never as running), every model saved earlier
stays loadable with its files unchanged, no half-written file appears, and the run resumes from its last
checkpoint. Runs use a tiny model and `max_images`, as in tests/training/test_launch.py (helpers in tests/helpers/runs.py).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from cnn_core import processes
from cnn_core.models import registry
from cnn_core.training import launch, live_metrics, resume, runs
from cnn_core.training.config import TrainConfig
from cnn_core.training.live_metrics import LiveMetrics
from cnn_core.training.model import build_model, compile_model
from cnn_core.training.schedules import learning_rate_at

from helpers.models import DiskFull, outputs
from helpers.paths import PROJECT_ROOT
from helpers.processes import as_background_job
from helpers.runs import TINY, first_epoch_seen, new_run, wait_until

MEDIUM = dict(filters=[16, 32], batch_size=32)  # ~160 steps per epoch on the subset: long enough to kill inside one


@pytest.mark.slow
def test_killed_run_reads_interrupted_keeps_saved_models_and_resumes_from_its_checkpoint(app_dirs, cifar_subset):
    earlier = build_model(TrainConfig(**MEDIUM, seed=5))
    registry.save_model(earlier, "killed", {"config": TrainConfig(**MEDIUM).to_dict(), "version": 1})
    before = sorted(path.name for path in (app_dirs["models"] / "killed").iterdir())
    run_id = launch.start_run(TrainConfig(**MEDIUM, epochs=3), str(cifar_subset), "killed")

    # Wait for the first epoch (and its checkpoint), then kill about half-way through the next one.
    first = wait_until(lambda: (app_dirs["runs"] / run_id / "checkpoint.json").exists() and runs.history(run_id))
    start = next(event for event in runs.read_events(run_id) if event["type"] == "start")
    time.sleep(max(0.05, (first[0]["elapsed"] - start["elapsed"]) / 2))
    os.kill(runs.read_status(run_id)["pid"], signal.SIGKILL)
    wait_until(lambda: runs.read_status(run_id)["state"] == "interrupted", timeout=30)
    assert runs.active_run() is None and runs.list_runs()[0]["state"] == "interrupted"
    assert "killed, out of memory, or the server restarted" in runs.read_status(run_id)["error"]
    # The registry kept the earlier model, loadable, and nothing half-written appeared beside it.
    assert [entry["name"] for entry in registry.list_models()] == ["killed"]
    assert registry.load_metadata("killed")["version"] == 1
    assert sorted(path.name for path in (app_dirs["models"] / "killed").iterdir()) == before
    np.testing.assert_array_equal(outputs(registry.load_model("killed")), outputs(earlier))

    # The checkpoint holds the last finished epoch, or the one before if the kill came within the write throttle.
    checkpoint, done = resume.read_checkpoint(run_id), len(runs.history(run_id))
    assert done - 1 <= checkpoint.epoch <= done < 3 and checkpoint.epoch >= 1 and checkpoint.last_epoch == 3
    resumed = new_run(TrainConfig(**MEDIUM), str(cifar_subset), "killed", resume_from=run_id)
    launch.run_training(resumed)
    events = runs.read_events(resumed)
    assert events[1]["initial_epoch"] == checkpoint.epoch and events[1]["resumed_from"] == run_id
    resumed_epochs = [event["epoch"] for event in events if event["type"] == "epoch"]
    assert resumed_epochs == list(range(checkpoint.epoch + 1, 4))  # what the plan had left
    assert registry.load_metadata("killed")["epochs_trained"] == 3
    assert (app_dirs["models"] / "killed" / "model.keras.bak").is_file()  # the earlier model, kept


SERVER = """
import sys, time
from cnn_core.training import launch, resume, runs
from cnn_core.training.config import TrainConfig
run_id = launch.start_run(TrainConfig(filters=[4], batch_size=64, epochs=200), sys.argv[1], "orphan", max_images=1000)
print(run_id, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_run_whose_server_is_killed_ends_as_interrupted(app_dirs, cifar_subset):
    # Started as `nohup streamlit run app.py &` would be: SIGINT ignored, which the training process inherits (and
    # which once silenced the interrupt it sends itself when its server dies).
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(cifar_subset)], stdout=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT, preexec_fn=as_background_job)
    try:
        run_id = server.stdout.readline().strip()
        wait_until(lambda: first_epoch_seen(run_id), timeout=300)
        pid = runs.read_status(run_id)["pid"]
    finally:
        server.kill()  # SIGKILL: no shutdown handlers run, as when a container is stopped hard
        server.wait(timeout=30)
    # A restarted server (this process) finds the run interrupted, not running, and its process gone. The orphan
    # trains at lowered priority: beside a busy suite it needed over 30 s to notice and end (idle: under a second).
    wait_until(lambda: not processes.process_alive(pid), timeout=180)
    status = runs.read_status(run_id)
    assert status["state"] == "interrupted" and "server" in status["error"]
    assert runs.read_json(app_dirs["runs"] / run_id / "status.json")["state"] == "interrupted"  # recorded, not guessed
    assert runs.active_run() is None and registry.list_models() == []
    assert resume.read_checkpoint(run_id) is not None  # so it can be resumed


class FaultAtSecondEpoch(LiveMetrics):
    """LiveMetrics that fails as the second epoch begins, as a bug or a bad batch would."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch == 1:
            raise RuntimeError("injected fault in epoch 2")
        super().on_epoch_begin(epoch, logs)


@pytest.mark.parametrize("fault", ["exception in training", "disk full saving the model", "disk full checkpointing"])
def test_a_fault_fails_the_run_keeps_saved_models_and_resume_works(app_dirs, cifar_subset, monkeypatch, fault):
    earlier = build_model(TrainConfig(**TINY, seed=5))
    registry.save_model(earlier, "faulty", {"config": TrainConfig(**TINY).to_dict(), "version": 1})
    before = {path.name: path.read_bytes() for path in (app_dirs["models"] / "faulty").iterdir()}
    run_id = new_run(TrainConfig(**TINY, epochs=2), str(cifar_subset), "faulty", max_images=200)
    with monkeypatch.context() as patch:
        if fault == "exception in training":
            patch.setattr("cnn_core.training.job.LiveMetrics", FaultAtSecondEpoch)
            expected = "RuntimeError: injected fault in epoch 2"
        elif fault == "disk full saving the model":
            patch.setattr(registry, "_inference_copy", lambda model: DiskFull())
            expected = "could not be written to disk"
        else:
            real_save = keras.Model.save_weights

            def save_weights(model, path, *args, **kwargs):
                if "checkpoint" in str(path):
                    return DiskFull().save(path)
                return real_save(model, path, *args, **kwargs)

            patch.setattr(keras.Model, "save_weights", save_weights)
            expected = "A file could not be written: No space left on device"
        with pytest.raises((RuntimeError, ValueError, OSError)):
            launch.run_training(run_id)

    status = runs.read_status(run_id)
    assert status["state"] == "failed" and expected in status["error"], status["error"]
    assert runs.read_events(run_id)[-1]["type"] == "failed" and runs.active_run() is None
    assert {path.name: path.read_bytes() for path in (app_dirs["models"] / "faulty").iterdir()} == before
    np.testing.assert_array_equal(outputs(registry.load_model("faulty")), outputs(earlier))
    folder = app_dirs["runs"] / run_id
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]  # no half-written files
    if fault == "disk full checkpointing":
        assert resume.read_checkpoint(run_id) is None  # nothing to resume from, and nothing broken either
        return
    epochs_done = resume.read_checkpoint(run_id).epoch  # the last epoch that finished before the fault
    assert epochs_done == (1 if fault == "exception in training" else 2)
    resumed = new_run(TrainConfig(**TINY), str(cifar_subset), "faulty", max_images=200, resume_from=run_id)
    assert launch.run_training(resumed)["model_saved"]
    # The plan's epochs that were left (at least one: a run whose save failed trains one more, then saves).
    assert registry.load_metadata("faulty")["epochs_trained"] == max(2, epochs_done + 1)


def test_a_damaged_checkpoint_is_refused_with_a_message(app_dirs):
    run_id = new_run(TrainConfig(**TINY), None)
    folder = app_dirs["runs"] / run_id
    assert resume.read_checkpoint(run_id) is None
    (folder / "checkpoint-0001.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n cut off")
    (folder / "checkpoint.json").write_text('{"weights": "checkpoint-0001.weights.h5", "epoch": 1, "last_epoch": 3, '
                                            '"schedule_start_epoch": 0, "steps_per_epoch": 4}')
    checkpoint = resume.read_checkpoint(run_id)
    model = build_model(TrainConfig(**TINY))
    compile_model(model, TrainConfig(**TINY), 4, total_steps=checkpoint.schedule_steps)
    with pytest.raises(runs.TrainingError, match="cannot be read"):
        resume.restore_checkpoint(model, run_id, checkpoint)
    (folder / "checkpoint.json").write_text("{half a file")
    assert resume.read_checkpoint(run_id) is None


def test_an_unwritable_runs_folder_is_a_training_error(app_dirs, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "write_json_atomic", full)
    with pytest.raises(runs.TrainingError, match="No space left"):
        launch.start_run(TrainConfig(**TINY), None, "x")
    assert runs.list_runs() == [] and list(app_dirs["runs"].iterdir()) in ([], [app_dirs["runs"] / ".lock"])


class EverBetter(LiveMetrics):
    """Reports a better validation accuracy every epoch and fails as the third begins."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("stopped while the newest best epoch waited for the checkpoint throttle")
        super().on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        super().on_epoch_end(epoch, {**(logs or {}), "val_accuracy": 0.1 * (epoch + 1)})


def test_an_interrupted_run_writes_the_best_epoch_that_the_throttle_held_back(app_dirs, cifar_subset, monkeypatch):
    monkeypatch.setattr(live_metrics, "CHECKPOINT_EVERY_SECONDS", 1e9)  # only the first improvement is written at once
    monkeypatch.setattr("cnn_core.training.job.LiveMetrics", EverBetter)
    run_id = new_run(TrainConfig(**TINY, epochs=3), str(cifar_subset), "held", max_images=200)
    with pytest.raises(KeyboardInterrupt):
        launch.run_training(run_id)
    assert runs.read_status(run_id)["state"] == "interrupted"
    assert runs.read_json(app_dirs["runs"] / run_id / "checkpoint.json")["epoch"] == 2  # not the stale epoch 1


def test_a_failure_is_recorded_with_its_table_key_for_the_page():
    full = OSError(errno.ENOSPC, "No space left on device", "/models/m/model.keras")
    assert launch.describe_error(full).startswith("A file could not be written: No space left on device "
                                                    "(/models/m/model.keras). Saved models are unchanged")
    assert launch.error_fields(full) == {"error_key": "errors.training.disk_full_at", "error_values": {
        "reason": "No space left on device", "path": "/models/m/model.keras"}}
    refused = registry.RegistryError("not_written", name="m", reason="No space left on device")
    assert launch.error_fields(refused)["error_key"] == "errors.registry.not_written"
    assert launch.error_fields(RuntimeError("injected")) == {}  # not ours: the page shows its English words


# --- Exact resume: the optimizer's state and the learning-rate schedule carry on. ---


def test_restoring_a_checkpoint_continues_training_exactly(tmp_path, app_dirs):
    # Two epochs of AdamW with warm-up and cosine decay, a checkpoint, then one more batch on the original model
    # and on a fresh model restored from the checkpoint: both must end with the very same weights.
    config = TrainConfig(**TINY, optimizer="adamw", schedule="cosine", warmup_fraction=0.2, weight_decay=0.01)
    images = np.random.default_rng(0).integers(0, 256, (256, 32, 32, 3)).astype(np.uint8)
    labels = np.eye(10, dtype=np.float32)[np.random.default_rng(1).integers(0, 10, 256)]
    original = build_model(config)
    compile_model(original, config, steps_per_epoch=4, epochs=5)
    original.fit(images, labels, batch_size=64, epochs=2, verbose=0, shuffle=False)
    run_id = new_run(config, None)
    checkpoint = resume.Checkpoint(resume.checkpoint_name(2), epoch=2, last_epoch=5, schedule_start_epoch=0,
                                   steps_per_epoch=4)
    resume.save_checkpoint(original, app_dirs["runs"] / run_id, checkpoint)
    restored = build_model(TrainConfig(**TINY, optimizer="adamw", schedule="cosine", seed=7))  # other initial weights
    compile_model(restored, config, steps_per_epoch=4, total_steps=resume.read_checkpoint(run_id).schedule_steps)
    resume.restore_checkpoint(restored, run_id, resume.read_checkpoint(run_id))
    assert int(restored.optimizer.iterations) == 8
    assert float(restored.optimizer.learning_rate) == pytest.approx(learning_rate_at(config, 8, 20))
    for model in (original, restored):
        model.fit(images[:64], labels[:64], batch_size=64, epochs=1, verbose=0, shuffle=False)
    for after, expected in zip(restored.get_weights(), original.get_weights()):
        np.testing.assert_allclose(after, expected, rtol=1e-6, atol=1e-7)


class StopAtThirdEpoch(LiveMetrics):
    """Interrupts the run as its third epoch begins, as a killed server would."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("the server that started it stopped")
        super().on_epoch_begin(epoch, logs)


def test_a_resumed_run_follows_the_learning_rate_schedule_it_started(app_dirs, cifar_subset, monkeypatch):
    config = TrainConfig(**TINY, epochs=4, optimizer="adamw", schedule="cosine", warmup_fraction=0.25)
    run_id = new_run(config, str(cifar_subset), "exact", max_images=300)
    with monkeypatch.context() as patch:
        patch.setattr("cnn_core.training.job.LiveMetrics", StopAtThirdEpoch)
        with pytest.raises(KeyboardInterrupt):
            launch.run_training(run_id)
    assert resume.read_checkpoint(run_id).epoch == 2
    resumed = new_run(config, str(cifar_subset), "exact", max_images=300, resume_from=run_id)
    launch.run_training(resumed)
    steps = runs.read_events(run_id)[1]["steps_per_epoch"]
    before = [event["learning_rate"] for event in runs.history(run_id)]
    after = [event["learning_rate"] for event in runs.history(resumed)]
    # The rate after each epoch of one uninterrupted 4-epoch schedule (Keras reports it after the epoch's steps).
    expected = [learning_rate_at(config, epoch * steps, 4 * steps) for epoch in (1, 2, 3, 4)]
    assert before + after == pytest.approx(expected, rel=1e-5)
    assert [event["epoch"] for event in runs.history(resumed)] == [3, 4]
    assert resume.read_checkpoint(resumed) is None  # completed and saved: its checkpoint is removed

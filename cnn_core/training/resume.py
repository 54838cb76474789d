"""Resuming: a new run that starts where an earlier run's checkpoint left off, or from a saved model.

Two kinds of source, two meanings:
- A **run id** resumes that run exactly, like Keras' `BackupAndRestore`: its checkpoint holds the weights
  *and the optimizer's state* after its last finished epoch, and where its plan stood (last epoch, where its
  learning-rate schedule started, steps per epoch). The new run rebuilds the same schedule, restores both,
  and trains the epochs the plan had left, so warm-up, decay and Adam's moments carry on as if uninterrupted,
  also after SIGKILL (the checkpoint is written at epoch ends, atomically).
- A **saved model's name** continues training that model: its weights are copied layer by layer into the
  model built from the new config (augmentation, dropout and optimizer settings may change, the architecture
  may not), epochs are numbered on, and a fresh schedule covers the new epochs.

Checkpoint files in the run folder: `checkpoint-<epoch>.weights.h5` (Keras `save_weights`: model and optimizer
variables) and `checkpoint.json`, which names it and is replaced last, so the pair always matches.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cnn_core.atomic import read_json, write_json_atomic
from cnn_core.models.registry import RegistryError, load_metadata, load_model, model_file
from cnn_core.training.config import TrainConfig
from cnn_core.training.runs import RUN_ID_PATTERN, TrainingError, read_config, run_folder

CHECKPOINT_INFO = "checkpoint.json"


@dataclass
class Checkpoint:
    """Where a run stood after its last finished epoch (the weights file holds the model and optimizer state)."""

    weights: str  # file name in the run folder
    epoch: int  # epochs finished, numbered as the run numbers them
    last_epoch: int  # the epoch the run's plan ends with
    schedule_start_epoch: int  # the epoch at which its learning-rate schedule started
    steps_per_epoch: int
    precision: str = "float32"  # the run's Keras dtype policy (cnn_core.training.precision); older checkpoints: float32
    # The settings its network was built and trained with: a long run's wider network and mixup
    # (cnn_core.training.job.long_run), which its config.json (the settings asked for) does not hold. None: as asked.
    config: dict | None = None

    @property
    def epochs_left(self) -> int:
        """The epochs its plan had left (at least one: a run interrupted while scoring trains one more, then saves)."""
        return max(self.last_epoch - self.epoch, 1)

    @property
    def schedule_steps(self) -> int:
        """The learning-rate schedule's length in optimizer steps."""
        return max((self.last_epoch - self.schedule_start_epoch) * self.steps_per_epoch, 1)


def save_checkpoint(model, folder: Path, checkpoint: Checkpoint) -> None:
    """Write the model's weights and optimizer state, then the info naming them; older weight files go."""
    folder = Path(folder)
    target = folder / checkpoint.weights
    temp = folder / f".{os.getpid()}.{checkpoint.weights}"  # Keras wants the .weights.h5 ending
    try:
        model.save_weights(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    write_json_atomic(folder / CHECKPOINT_INFO, asdict(checkpoint))  # last: the pair switches at once
    for old in folder.glob("checkpoint-*.weights.h5"):
        if old.name != checkpoint.weights:
            old.unlink(missing_ok=True)


def checkpoint_name(epoch: int) -> str:
    """The weights file name of the checkpoint taken after `epoch`."""
    return f"checkpoint-{epoch:04d}.weights.h5"


def read_checkpoint(run_id: str) -> Checkpoint | None:
    """The run's checkpoint, or None if it has none (or it is unreadable: then there is nothing to resume)."""
    folder = run_folder(run_id)
    try:
        checkpoint = Checkpoint(**read_json(folder / CHECKPOINT_INFO))
    except (OSError, ValueError, TypeError):
        return None
    return checkpoint if (folder / checkpoint.weights).is_file() else None


def remove_checkpoint(run_id: str) -> None:
    """Delete a run's checkpoint (its model is saved and its schedule complete: nothing left to resume)."""
    folder = run_folder(run_id)
    (folder / CHECKPOINT_INFO).unlink(missing_ok=True)
    for weights in folder.glob("checkpoint-*.weights.h5"):
        weights.unlink(missing_ok=True)


def restore_checkpoint(model, run_id: str, checkpoint: Checkpoint) -> None:
    """Load weights and optimizer state into a model compiled with the checkpoint's schedule."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # its variables must exist before they are loaded
    try:
        model.load_weights(run_folder(run_id) / checkpoint.weights)
    except Exception as error:  # another architecture or optimizer, or a damaged file: one clear message
        raise TrainingError("checkpoint_unreadable", run_id=run_id, reason=type(error).__name__) from None


def check_resume_source(source: str) -> None:
    """TrainingError unless `source` is a run with a checkpoint or a saved model."""
    if RUN_ID_PATTERN.match(source):
        if read_checkpoint(source) is None:
            raise TrainingError("no_checkpoint", run_id=source)
        return
    try:
        model_file(source)
    except RegistryError:
        raise TrainingError("nothing_to_resume", name=source) from None


def resume_config(source: str) -> TrainConfig:
    """The config of a run or saved model to resume (a starting point for the new run's config): what a run's
    checkpoint trained, what a saved model was trained with."""
    check_resume_source(source)
    if RUN_ID_PATTERN.match(source):
        return TrainConfig.from_dict(trained_settings(source, read_checkpoint(source)))
    return TrainConfig.from_dict(load_metadata(source)["config"])


def trained_settings(run_id: str, checkpoint: Checkpoint | None) -> dict:
    """What the run's checkpoint trained (a long run's wider network, its mixup), else the settings it asked for."""
    return (checkpoint.config if checkpoint else None) or read_config(run_id)


def continuation(run_id: str, checkpoint: Checkpoint) -> dict:
    """The config of a new run that resumes `run_id` exactly: the settings its checkpoint trained, for the epochs its
    plan had left, no time budget (the Resume button and a requeue after a restart)."""
    return {**trained_settings(run_id, checkpoint), "epochs": checkpoint.epochs_left, "time_budget_seconds": 0.0}


def load_saved_model(name: str):
    """(Keras model, epochs it was trained for) of a registry model, to continue training it."""
    check_resume_source(name)
    metadata = load_metadata(name)
    return load_model(name), int(metadata.get("epochs_trained") or len(metadata.get("history") or []))


def copy_weights(source, target) -> None:
    """Copy weights layer by layer (by name); TrainingError if the architectures differ."""
    for layer in target.layers:
        if not layer.weights or layer.name.startswith("random_"):  # augmentation: only RNG state
            continue
        try:
            weights = source.get_layer(layer.name).get_weights()
            layer.set_weights(weights)
        except ValueError as error:
            raise TrainingError("layer_mismatch", layer=layer.name, reason=str(error)) from None

"""The Keras callback that streams a run's progress to disk, honours Stop, keeps the best weights in memory and
backs up the training state at epoch ends (see cnn_core.training.resume for the checkpoint).

Speed matters here: a callback that overrides `on_train_batch_end` makes Keras wait for every batch
hook, which costs 10-25 % on a CPU when hooks fire every step. The training job therefore compiles
with `steps_per_execution=k` (k steps run inside one TensorFlow call, chosen so that one call takes a
few tenths of a second) and this callback's batch hook only fires once per call. Batch events are
further throttled to a few per second; everything else is cheap bookkeeping.

Keras reports running means over the epoch so far. From two consecutive means we recover the mean of
just the latest k steps, and smooth those with an exponential moving average, so the batch curve moves
with the model instead of lagging a whole epoch behind.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import keras

from cnn_core.training.resume import Checkpoint, checkpoint_name, save_checkpoint

BATCH_EVENT_SECONDS = 0.3  # at most ~3 batch events per second
SMOOTHING_PER_STEP = 0.95  # EMA factor per training step, whatever k is
CHECKPOINT_EVERY_SECONDS = 2.0  # the training state reaches disk at most this often (and at the end): a killed
# process loses at most this much training, and epochs shorter than this do not pay for a write each


class LiveMetrics(keras.callbacks.Callback):
    """Batch/epoch events, STOP-file and deadline checks, best-by-val-accuracy weights, and the checkpoint."""

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None],
        *,
        stop_file: Path,
        checkpoint_folder: Path,
        steps_per_epoch: int,
        batch_size: int,
        train_images: int,
        last_epoch: int,
        clock_start: float,
        deadline: float | None = None,
        finish_seconds: float = 0.0,
        schedule_start_epoch: int = 0,
        config: dict | None = None,
    ):
        super().__init__()
        self.emit = emit
        self.stop_file = str(stop_file)
        self.checkpoint_folder = Path(checkpoint_folder)
        self.schedule_start_epoch = schedule_start_epoch  # where the learning-rate schedule began (for resuming)
        self.config = config  # the settings the network trains with, kept with each checkpoint (for resuming)
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.train_images = train_images
        self.last_epoch = last_epoch  # 1-based number of the run's final epoch
        self.clock_start = clock_start  # time.monotonic() when the run began
        self.deadline = deadline  # monotonic time by which training must stop (time budget), or None
        self.finish_seconds = finish_seconds  # expected evaluation + saving time, for the ETA
        self.stop_reason: str | None = None  # "user" or "time budget"
        self.partial_epoch = False
        self.epochs_completed = 0
        self.best_accuracy = -math.inf
        self.best_epoch: int | None = None
        self.best_weights: list | None = None
        self.epoch_seconds: list[float] = []
        self.train_seconds: list[float] = []
        self._pending: tuple[int, list] | None = None  # (epoch, variables) not yet on disk (throttled)
        self._last_checkpoint = -math.inf
        self._loss = self._accuracy = None  # smoothed values, carried across epochs

    # --- Per execution of k steps. ---

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        self._epoch_number = epoch + 1  # Keras counts from 0 (and from initial_epoch when resuming)
        self._epoch_start = self._window_start = self._last_hook = now
        self._steps_done = self._window_steps = 0
        self._loss_sum = self._accuracy_sum = 0.0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        now = time.monotonic()
        steps_done = min(batch + 1, self.steps_per_epoch)
        new_steps = steps_done - self._steps_done
        if new_steps > 0 and logs:
            # Keras' logs are means over the epoch so far; difference them to get the latest k steps.
            loss_sum, accuracy_sum = logs["loss"] * steps_done, logs.get("accuracy", 0.0) * steps_done
            weight = 1.0 - SMOOTHING_PER_STEP**new_steps
            self._loss = _ema(self._loss, (loss_sum - self._loss_sum) / new_steps, weight)
            self._accuracy = _ema(self._accuracy, (accuracy_sum - self._accuracy_sum) / new_steps, weight)
            self._loss_sum, self._accuracy_sum, self._steps_done = loss_sum, accuracy_sum, steps_done
        self._last_hook = now
        self._check_stop(now)
        if now - self._window_start >= BATCH_EVENT_SECONDS or self.model.stop_training:
            images = min((steps_done - self._window_steps) * self.batch_size, self.train_images)
            self.emit(
                {
                    "type": "batch", "epoch": self._epoch_number, "step": steps_done,
                    "loss": self._loss, "accuracy": self._accuracy,
                    "images_per_second": images / max(now - self._window_start, 1e-9),
                    "elapsed": now - self.clock_start,
                }
            )
            self._window_start, self._window_steps = now, steps_done

    def _check_stop(self, now: float) -> None:
        if self.model.stop_training:
            return
        if os.path.exists(self.stop_file):
            self.stop_reason, self.model.stop_training = "user", True
        elif self.deadline is not None and now >= self.deadline and self.epochs_completed >= 1:
            self.stop_reason, self.model.stop_training = "time budget", True

    # --- Per epoch. ---

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        logs = logs or {}
        if self._steps_done < self.steps_per_epoch:
            # Stopped mid-epoch: Keras still validates, but half an epoch is not recorded or kept.
            self.partial_epoch = True
            return
        self.epochs_completed += 1
        train_seconds = max(self._last_hook - self._epoch_start, 1e-9)
        self.train_seconds.append(train_seconds)
        self.epoch_seconds.append(now - self._epoch_start)
        val_accuracy = float(logs.get("val_accuracy", logs.get("accuracy", 0.0)))
        if val_accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = val_accuracy, epoch + 1
            self.best_weights = self.model.get_weights()  # ~1 ms
        if now - self._last_checkpoint >= CHECKPOINT_EVERY_SECONDS:
            self._pending = None
            self._save_checkpoint(epoch + 1)
        else:  # throttled: keep this epoch's state in memory, so a later flush writes exactly it
            self._pending = (epoch + 1, [keras.ops.convert_to_numpy(v) for v in self._state_variables()])
        remaining_epochs = self.last_epoch - (epoch + 1)
        mean_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds)
        self.emit(
            {
                "type": "epoch", "epoch": epoch + 1,
                "loss": _float(logs.get("loss")), "accuracy": _float(logs.get("accuracy")),
                "val_loss": _float(logs.get("val_loss")), "val_accuracy": _float(logs.get("val_accuracy")),
                "learning_rate": _current_learning_rate(self.model),
                "images_per_second": self.train_images / train_seconds,
                "elapsed": now - self.clock_start,
                "eta": remaining_epochs * mean_epoch + self.finish_seconds,
            }
        )
        self._check_stop(time.monotonic())

    # --- The training state on disk, for exact resuming. ---

    def _state_variables(self) -> list:
        """Every variable a resumed run needs: the model's (batch-norm statistics included) and the optimizer's."""
        return list(self.model.weights) + list(self.model.optimizer.variables)

    def _save_checkpoint(self, epoch: int) -> None:
        save_checkpoint(self.model, self.checkpoint_folder, Checkpoint(
            weights=checkpoint_name(epoch), epoch=epoch, last_epoch=self.last_epoch,
            schedule_start_epoch=self.schedule_start_epoch, steps_per_epoch=self.steps_per_epoch,
            precision=self.model.dtype_policy.name, config=self.config,
        ))
        self._last_checkpoint = time.monotonic()

    def flush_checkpoint(self) -> None:
        """Write the last finished epoch's state if the throttle held it back (also after an interruption)."""
        if self._pending is None:
            return
        epoch, values = self._pending
        variables = self._state_variables()
        current = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            for variable, value in zip(variables, values):
                variable.assign(value)
            self._save_checkpoint(epoch)
            self._pending = None
        finally:
            for variable, value in zip(variables, current):
                variable.assign(value)


def _ema(previous: float | None, value: float, weight: float) -> float:
    return value if previous is None else previous + weight * (value - previous)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _current_learning_rate(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None

"""TensorBoard logs for every run: the epoch curves and, now and then, the weights' histograms.

`tensorboard --logdir runs` then compares runs the way Keras users are used to: each run writes
`runs/<id>/tensorboard/train` and `.../validation` with Keras' own tags (`epoch_loss`, `epoch_accuracy`,
`epoch_learning_rate`), so the curves line up with those of any `keras.callbacks.TensorBoard` run.

Hand-written rather than `keras.callbacks.TensorBoard`, which also hooks every batch: a batch hook makes
each training step wait for Python, 10-25 % slower on these CPUs. This callback only acts at epoch ends.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

HISTOGRAM_EVERY = 5  # weights histograms at the first epoch and every 5th: they cost disk, not insight, each epoch


class TensorBoardLogs(keras.callbacks.Callback):
    """Scalars per epoch (loss, accuracy, validation, learning rate) and sparing weight histograms."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, tf.summary.SummaryWriter] = {}

    def _writer(self, split: str) -> tf.summary.SummaryWriter:
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(str(self.log_dir / split))
        return self._writers[split]

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs, step = logs or {}, epoch + 1
        with self._writer("train").as_default(step=step):
            for name in ("loss", "accuracy"):
                if name in logs:
                    tf.summary.scalar(f"epoch_{name}", float(logs[name]))
            rate = _learning_rate(self.model)
            if rate is not None:
                tf.summary.scalar("epoch_learning_rate", rate)
            if step == 1 or step % HISTOGRAM_EVERY == 0:
                for weight in self.model.trainable_weights:
                    tf.summary.histogram(weight.path.replace(":", "_"), keras.ops.convert_to_numpy(weight))
        if "val_loss" in logs:
            with self._writer("validation").as_default(step=step):
                for name in ("loss", "accuracy"):
                    if f"val_{name}" in logs:
                        tf.summary.scalar(f"epoch_{name}", float(logs[f"val_{name}"]))
        for writer in self._writers.values():
            writer.flush()  # a page or `tensorboard` may read them while the run trains

    def on_train_end(self, logs=None) -> None:
        for writer in self._writers.values():
            writer.close()


def _learning_rate(model: keras.Model) -> float | None:
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None

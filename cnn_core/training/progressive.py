"""Progressive resizing: the first epochs of a run train on shrunk images, which cost a fraction of the time.

With `TrainConfig.progressive_resizing`, the run's epochs fall into three phases: the first third sees its
training images at half their side (16 x 16 for CIFAR-10), the second third at three quarters (24 x 24), the
rest, and always the last epoch, at full size. The network is the same in all three (convolutions, pooling and
the global-average head take any size), so the time a phase saves buys more epochs in a time budget. Validation,
testing and the saved model always see full-size images: the shrinking is a training-only layer.

It pays in default (more epochs in its budget, higher validation accuracy) and lost in best, which stays at full
size: the figures are in docs/results.md.

The pieces: `TrainingResize` (the layer, its side in a variable), `epoch_side` / `epoch_cost` (which phase an
epoch is in, and what it costs against a full-size epoch, for planning a time budget) and `ProgressiveResizing`
(the callback that sets the side as each epoch begins).
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

# (share of the full side, share of a full-size epoch's training time) of each phase, as timed in budgeted runs: more
# than the share of pixels (0.25, 0.56), since batch norm's statistics and the optimizer's update do not shrink.
PHASES = ((0.5, 0.4), (0.75, 0.7), (1.0, 1.0))
RESIZE_LAYER_NAME = "training_resize"


def epoch_phase(epoch: int, last_epoch: int) -> int:
    """The phase (0, 1, 2) of `epoch` (0-based, counted from the schedule's start) in a run of `last_epoch` epochs."""
    if epoch >= last_epoch - 1:
        return len(PHASES) - 1  # the last epoch always at full size: the model is scored and used there
    return min(len(PHASES) * epoch // max(last_epoch, 1), len(PHASES) - 1)


def epoch_side(epoch: int, last_epoch: int, full_side: int) -> int:
    """The side training images are shrunk to in `epoch` of `last_epoch` (at least 8 pixels)."""
    return max(8, round(full_side * PHASES[epoch_phase(epoch, last_epoch)][0]))


def epoch_cost(epoch: int, last_epoch: int) -> float:
    """The training time of `epoch` as a share of a full-size epoch's."""
    return PHASES[epoch_phase(epoch, last_epoch)][1]


class TrainingResize(keras.layers.Layer):
    """Shrinks the images to `side` x `side` while training (area-weighted: antialiased); does nothing otherwise.

    The side is a TensorFlow variable, not a Keras weight, so the traced training step reads its current value
    and the model's weights are exactly those of the same network without this layer.
    """

    def __init__(self, full_side: int, **kwargs):
        super().__init__(**kwargs)
        self.side = tf.Variable(full_side, trainable=False, dtype=tf.int32, name="side")

    def call(self, images, training=None):
        if not training:
            return images
        return tf.image.resize(images, tf.stack([self.side, self.side]), antialias=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])


class ProgressiveResizing(keras.callbacks.Callback):
    """Sets the model's `TrainingResize` side as each epoch begins, from the run's current plan.

    `last_epoch()` is the plan's last epoch (a time budget may re-plan it); `schedule_start_epoch` is where the
    run's schedule began (earlier than the first epoch when a run is resumed), so phases follow the schedule.
    """

    def __init__(self, full_side: int, schedule_start_epoch: int, last_epoch: Callable[[], int]):
        super().__init__()
        self.full_side, self.start, self.last_epoch = full_side, schedule_start_epoch, last_epoch

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        side = epoch_side(epoch - self.start, self.last_epoch() - self.start, self.full_side)
        self.model.get_layer(RESIZE_LAYER_NAME).side.assign(side)

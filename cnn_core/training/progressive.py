"""Progressive resizing: the first epochs of a run train on shrunk images, which cost a fraction of the time.

With `TrainConfig.progressive_resizing`, the run's epochs fall into three phases: the first third sees its
training images at half their side (16 x 16 for CIFAR-10), the second third at three quarters (24 x 24), the
rest, and always the last epoch, at full size. The network is the same in all three (convolutions, pooling and
the global-average head take any size), so the time a phase saves buys more epochs in a time budget. Validation,
testing and the saved model always see full-size images: the shrinking is a training-only layer.

Measured on the CIFAR-10 subset (default preset, 2 CPU cores, `bench/bench_levers.py`): 12 progressive epochs
took the time of 8 full-size ones and reached 76.6 % / 74.7 % validation accuracy (seeds 0 / 1) against 73.5 % /
72.5 %.

The pieces: `TrainingResize` (the layer, its side in a variable), `epoch_side` (which size an epoch trains at),
`cost_model` (what an epoch costs against a full-size one, for planning a time budget, from a timed half-size
step) and `ProgressiveResizing` (the callback that sets the side as each epoch begins).
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

SIDE_SHARES = (0.5, 0.75, 1.0)  # each phase's side, as a share of the full side
RESIZE_LAYER_NAME = "training_resize"


def epoch_phase(epoch: int, last_epoch: int) -> int:
    """The phase (0, 1, 2) of `epoch` (0-based, counted from the schedule's start) in a run of `last_epoch` epochs."""
    if epoch >= last_epoch - 1:
        return len(SIDE_SHARES) - 1  # the last epoch always at full size: the model is scored and used there
    return min(len(SIDE_SHARES) * epoch // max(last_epoch, 1), len(SIDE_SHARES) - 1)


def epoch_side(epoch: int, last_epoch: int, full_side: int) -> int:
    """The side training images are shrunk to in `epoch` of `last_epoch` (at least 8 pixels)."""
    return max(8, round(full_side * SIDE_SHARES[epoch_phase(epoch, last_epoch)]))


def cost_model(half_size_share: float) -> Callable[[int, int], float]:
    """epoch_cost(epoch, last_epoch): an epoch's training time as a share of a full-size epoch's.

    From one measurement, a half-size step's share of a full-size one's time (`pacing.calibrate`): a step costs a
    fixed part a plus a part that grows with the pixels, a + (1 - a) x share², so half size costs a + (1 - a) / 4.
    Measured here, default preset: half size 0.31-0.34, three quarters 0.59-0.64 (this model says 0.60-0.62).
    """
    fixed = min(max((half_size_share - 0.25) / 0.75, 0.0), 1.0)
    costs = [fixed + (1.0 - fixed) * share**2 for share in SIDE_SHARES]
    return lambda epoch, last_epoch: costs[epoch_phase(epoch, last_epoch)]


def set_half_size(model: keras.Model, half: bool) -> None:
    """Switch a training model's images to half size, or back to full size (for timing steps)."""
    layer = model.get_layer(RESIZE_LAYER_NAME)
    full_side = int(model.input_shape[1])
    layer.side.assign(max(8, round(full_side * SIDE_SHARES[0])) if half else full_side)


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

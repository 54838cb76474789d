"""Learning-rate schedules: one formula, evaluated by NumPy (charts, tests) and by Keras (training).

Every schedule has the same shape: an optional linear warm-up over the first `warmup_steps`, then a
decay to zero at `total_steps`:

- "constant":  the peak rate for every step (no warm-up, no decay), the seed tutorial's Adam 1e-3.
- "cosine":    warm-up from 0, then half a cosine from the peak down to 0.
- "linear":    warm-up from 0, then a straight line from the peak down to 0.
- "one_cycle": warm-up from peak/10 (30 % of the run when no warm-up is set), then a straight line
               to 0: the triangular "one cycle" of Smith (2018), used by fast CIFAR-10 training
               (David Page's DAWNBench ResNet, airbench).

`step` counts optimizer updates from 0, as `optimizer.iterations` does. Steps past `total_steps`
keep the final rate (0 for the decaying schedules).

In Keras the run's length lives in two variables, not in constants of the traced training step: a
time-budgeted run re-sizes its schedule after calibrating (and again if the machine's speed changes)
without tracing the step again, which costs seconds on a slow CPU.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

# When "one_cycle" is chosen without a warm-up share, ramp up over this share of the run.
ONE_CYCLE_DEFAULT_WARMUP = 0.3
# One-cycle starts at peak / ONE_CYCLE_START_DIVISOR rather than 0.
ONE_CYCLE_START_DIVISOR = 10.0


def warmup_steps_for(kind: str, warmup_fraction: float, total_steps: int) -> int:
    """Number of warm-up steps for a schedule kind over a run of `total_steps` updates."""
    if kind == "constant":
        return 0
    if kind == "one_cycle" and warmup_fraction <= 0:
        warmup_fraction = ONE_CYCLE_DEFAULT_WARMUP
    return int(round(warmup_fraction * total_steps))


def schedule_formula(ops: Any, kind: str, step: Any, peak: float, total_steps: int, warmup_steps: int) -> Any:
    """The learning rate at `step`, written once for both `numpy` and `keras.ops` as `ops`."""
    if kind == "constant":
        return step * 0.0 + peak
    start = peak / ONE_CYCLE_START_DIVISOR if kind == "one_cycle" else 0.0
    # Warm-up: a straight line from `start` towards the peak, reached at step == warmup_steps.
    warm_progress = ops.clip(step / ops.maximum(warmup_steps, 1.0), 0.0, 1.0)
    warm_rate = start + (peak - start) * warm_progress
    # Decay: progress 0 at the end of warm-up, 1 at total_steps.
    decay_progress = ops.clip((step - warmup_steps) / ops.maximum(total_steps - warmup_steps, 1.0), 0.0, 1.0)
    if kind == "cosine":
        decay_rate = peak * 0.5 * (1.0 + ops.cos(math.pi * decay_progress))
    elif kind in ("linear", "one_cycle"):
        decay_rate = peak * (1.0 - decay_progress)
    else:
        raise ValueError(f"Unknown learning-rate schedule {kind!r}.")
    return ops.where(step < warmup_steps, warm_rate, decay_rate)


def learning_rate_value(kind: str, step: int, peak: float, total_steps: int, warmup_fraction: float) -> float:
    """NumPy evaluation of the schedule at one step (a Python float)."""
    warmup = warmup_steps_for(kind, warmup_fraction, total_steps)
    value = schedule_formula(np, kind, np.float64(step), peak, total_steps, warmup)
    return float(value)


@keras.saving.register_keras_serializable(package="cnn_studio")
class WarmupDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Keras schedule for `schedule_formula`; registered so saved models reload with safe_mode=True."""

    def __init__(self, kind: str, peak: float, total_steps: int, warmup_steps: int):
        super().__init__()
        self.kind = str(kind)
        self.peak = float(peak)
        # Variables, so that `resize` needs no retrace (float32 counts steps exactly up to 16 million).
        self._total_steps = keras.Variable(1.0, dtype="float32", trainable=False, name="schedule_total_steps")
        self._warmup_steps = keras.Variable(0.0, dtype="float32", trainable=False, name="schedule_warmup_steps")
        self.resize(total_steps, warmup_steps)

    @property
    def total_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self._total_steps))

    @property
    def warmup_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self._warmup_steps))

    def resize(self, total_steps: int, warmup_steps: int) -> None:
        """A new length for the run; the optimizer's steps so far keep counting."""
        self._total_steps.assign(float(max(int(total_steps), 1)))
        self._warmup_steps.assign(float(int(warmup_steps)))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return keras.ops.cast(
            schedule_formula(keras.ops, self.kind, step, self.peak, self._total_steps, self._warmup_steps),
            "float32",
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }

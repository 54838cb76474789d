"""Learning-rate schedules: one formula, evaluated by NumPy (charts, tests, the training page's lessons) and by
Keras (training, through cnn_core.training.model.WarmupDecaySchedule). No TensorFlow here.

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

In Keras the run's length lives in two variables, not in constants of the traced training step (see
WarmupDecaySchedule): a time-budgeted run re-sizes its schedule after calibrating (and again if the machine's
speed changes) without tracing the step again, which costs seconds on a slow CPU.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cnn_core.training.config import TrainConfig

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


def learning_rate_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of a run with `config` at optimizer step `step` (0-based) of `total_steps`."""
    return learning_rate_value(config.schedule, step, config.learning_rate, total_steps, config.warmup_fraction)

"""How fast does this model train here? Steps per execution, and epochs that fit a time budget.

Two measurements, both taken on the machine that trains:

- `estimate_step_seconds`: one eager forward pass on a batch. Eager execution is 2-3x slower than
  a traced graph, which roughly cancels the backward pass (~2 forwards), so on this CPU an eager
  forward pass costs about as much as one compiled training step. Costs a fraction of a second and picks `steps_per_execution` so that Keras
  hands control back to Python a few times per second: often enough for live charts, rarely enough
  that waiting for the batch hook costs ~1 %.
- `calibrate`: a few real training executions and validation passes on the compiled model. Only
  time-budgeted runs pay for it; the weights and the optimizer's state are reset afterwards, and the
  job re-sizes the learning-rate schedule to the epochs that fit (`epochs_for_budget`), so the schedule
  is *scaled* to the budget rather than cut off. The traced training step is kept: calibrating traces
  it once (seconds on a slow CPU), and the run itself pays nothing more.

A few seconds of calibration cannot foresee a machine that gets busier (or idler) later, as shared
cores do. `BudgetKeeper` therefore re-plans at epoch ends from the measured epoch times: it re-sizes
the learning-rate schedule to the epochs that still fit, keeping the optimizer's state (only when the
plan is off by a clear margin: each re-size bends the learning-rate curve).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from cnn_core.training.config import ConfigError, TrainConfig
from cnn_core.training.layers import flops_per_image
from cnn_core.training.limits import CostError, check_cost

SECONDS_PER_EXECUTION = 0.3  # target time between batch hooks
MAX_STEPS_PER_EXECUTION = 64
EAGER_FORWARD_TO_TRAIN_STEP = 1.0  # measured: seed/quick/default eager forward ≈ one compiled training step
EPOCH_OVERHEAD_SECONDS = 0.3  # epoch-end bookkeeping: events, best weights, checkpoint, scrubber snapshot, TensorBoard
SAVE_SECONDS = 1.0  # registry save: copy, write, reload, compare, rename (0.2-1.0 s measured on shared cores)
TRACE_SECONDS = 0.5  # tracing the final evaluation's graph (0.2-0.6 s measured)
CORRUPTING_SECONDS_PER_IMAGE = 5e-4  # one test image through every corruption of the suite (0.4 ms measured, Pillow)

EpochCost = Callable[[int, int], float]  # (epoch, epochs of the run) -> its training time as a share of a full epoch


def estimate_step_seconds(model: keras.Model, batch_size: int) -> float:
    """Rough seconds per training step from timed eager forward passes (after one warm-up call)."""
    shape = tuple(int(size) for size in model.input_shape[1:])
    images = np.zeros((batch_size, *shape), dtype=np.float32)
    model(images, training=False)  # first call builds and warms up
    timings = []
    for _ in range(2):  # the faster of two: other processes only ever add time
        start = time.perf_counter()
        keras.ops.convert_to_numpy(model(images, training=False))
        timings.append(time.perf_counter() - start)
    return EAGER_FORWARD_TO_TRAIN_STEP * min(timings)


def steps_per_execution_for(step_seconds: float, steps_per_epoch: int) -> int:
    """Steps per TensorFlow call so one call lasts about SECONDS_PER_EXECUTION (1..64, ≤ an epoch)."""
    steps = round(SECONDS_PER_EXECUTION / max(step_seconds, 1e-6))
    return int(max(1, min(steps, MAX_STEPS_PER_EXECUTION, steps_per_epoch)))


@dataclass
class Calibration:
    """Measured costs of this model on this machine (seconds)."""

    step_seconds: float  # one training step, steady state
    trace_seconds: float  # extra cost of the first training call (graph tracing), paid once, while calibrating
    evaluation_seconds: float  # one validation pass, steady state
    evaluation_trace_seconds: float  # extra cost of the first validation pass, also paid while calibrating
    seconds: float  # what calibrating itself took


class _ExecutionTimer(keras.callbacks.Callback):
    """Records when each execution ends; stops once enough steady executions were timed."""

    def __init__(self, min_seconds: float, min_executions: int = 3):
        super().__init__()
        self.min_seconds, self.min_executions = min_seconds, min_executions
        self.times: list[float] = []

    def on_train_begin(self, logs=None) -> None:
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.times.append(time.perf_counter())
        steady = self.times[-1] - self.times[0]  # the first execution includes tracing: excluded
        if len(self.times) >= self.min_executions and steady >= self.min_seconds:
            self.model.stop_training = True


def calibrate(model: keras.Model, train, test, steps_per_execution: int, min_seconds: float) -> Calibration:
    """Time real training steps and validation passes on the compiled `model`.

    The weights are restored and the optimizer's state (step count, moments) zeroed afterwards, so the run
    starts as if uncalibrated, with its training and validation steps already traced.
    """
    start = time.perf_counter()
    weights = model.get_weights()
    timer = _ExecutionTimer(min_seconds)
    model.fit(train.repeat(), epochs=1, steps_per_epoch=10**6, verbose=0, callbacks=[timer], shuffle=False)
    executions = len(timer.times) - 1
    step_seconds = (timer.times[-1] - timer.times[0]) / max(executions * steps_per_execution, 1)
    first_call = timer.times[0] - timer.begin
    evaluation_times = []
    for _ in range(3):  # the first pass traces the test function; the faster later one is steady
        begin = time.perf_counter()
        model.evaluate(test, verbose=0)
        evaluation_times.append(time.perf_counter() - begin)
    model.set_weights(weights)
    for variable in model.optimizer.variables:
        variable.assign(keras.ops.zeros_like(variable))
    steady_evaluation = min(evaluation_times[1:])
    return Calibration(
        step_seconds=step_seconds,
        trace_seconds=max(first_call - steps_per_execution * step_seconds, 0.0),
        evaluation_seconds=steady_evaluation,
        evaluation_trace_seconds=max(evaluation_times[0] - steady_evaluation, 0.0),
        seconds=time.perf_counter() - start,
    )


def finish_seconds_estimate(evaluation_seconds: float, test_time_flip: bool) -> float:
    """Expected time for the final evaluation (twice the work with flip averaging), its trace and the save."""
    return evaluation_seconds * (2 if test_time_flip else 1) + TRACE_SECONDS + SAVE_SECONDS


def robustness_seconds_estimate(test_evaluation_seconds: float, test_images: int, corruptions: int) -> float:
    """Expected time for the corruption suite at the end: each corruption's copy of the test split scored once
    (test-time flip off), and making the copies."""
    return corruptions * test_evaluation_seconds + CORRUPTING_SECONDS_PER_IMAGE * test_images


LONG_RUN_FACTOR = 2  # a budget holding this many times a config's epochs is a long run (long_run_mixup_alpha)


def long_run_mixup(mixup_alpha: float, long_run_alpha: float, epochs: int, planned_epochs: int) -> float:
    """The mixup α a budgeted run trains with: `long_run_alpha` when it holds LONG_RUN_FACTOR x its `epochs` and has no
    mixup of its own, else `mixup_alpha`."""
    if mixup_alpha > 0 or long_run_alpha <= 0 or planned_epochs < LONG_RUN_FACTOR * epochs:
        return mixup_alpha
    return long_run_alpha


WIDEN_FACTOR = 4  # a budget holding this many times a config's epochs trains a wider network (long_run_width)


def widened_for_long_run(config: TrainConfig, planned_epochs: int, num_classes: int,
                         shared_server: bool = True) -> TrainConfig | None:
    """The settings of the wider network a budget holding WIDEN_FACTOR x the config's `epochs` trains instead (filters
    times `long_run_width` to a multiple of 8, `long_run_weight_decay` if set), or None: not that long, not asked for,
    or, on a shared server, wider than its cost limits (a long run must never make a network the server would have
    refused), or too costly to train even the config's epochs in the time, or no wider once rounded."""
    if config.long_run_width <= 1 or planned_epochs < WIDEN_FACTOR * config.epochs:
        return None
    changes = {"filters": [max(8, round(count * config.long_run_width / 8) * 8) for count in config.filters],
               "long_run_width": 1.0, "long_run_weight_decay": 0.0}  # done: its saved settings never widen again
    if config.long_run_weight_decay > 0:
        changes["weight_decay"] = config.long_run_weight_decay
    try:
        wider = TrainConfig.from_dict({**config.to_dict(), **changes})
        if shared_server:
            check_cost(wider, num_classes)
    except (ConfigError, CostError):
        return None
    # Its epochs cost about its FLOPs: it must still train at least the config's epochs, or stay as asked.
    held = planned_epochs * flops_per_image(config, num_classes) / flops_per_image(wider, num_classes)
    return wider if wider.filters != config.filters and held >= config.epochs else None


def epochs_for_budget(
    budget_seconds: float,
    elapsed_seconds: float,
    calibration: Calibration,
    steps_per_epoch: int,
    finish_seconds: float,
    max_epochs: int = 1000,
    epoch_cost: EpochCost | None = None,
) -> int:
    """The most whole epochs that fit what is left of the budget after `elapsed_seconds` (setup and calibration,
    which traced the steps) and `finish_seconds` (the final evaluation and the save); at least 1.

    `epoch_cost(epoch, epochs)` is an epoch's training time as a share of a calibrated one (progressive resizing's
    small early epochs); the validation pass and the epoch-end work cost the same in every epoch.
    """
    left = budget_seconds - elapsed_seconds - finish_seconds
    fixed = calibration.evaluation_seconds + EPOCH_OVERHEAD_SECONDS
    return max(1, epochs_that_fit(left, epoch_seconds(calibration, steps_per_epoch), fixed, 0, max_epochs, epoch_cost))


def training_seconds(calibration: Calibration, steps_per_epoch: int, epochs: int,
                     epoch_cost: EpochCost | None = None) -> float:
    """Expected seconds of `epochs` epochs (each shrunk epoch's steps at their `epoch_cost` share)."""
    steps, fixed = steps_per_epoch * calibration.step_seconds, calibration.evaluation_seconds + EPOCH_OVERHEAD_SECONDS
    return _seconds(0, epochs, steps, fixed, epoch_cost or _full_cost)


def epochs_that_fit(seconds_left: float, full_epoch_seconds: float, fixed_seconds: float, done: int, most: int,
                    epoch_cost: EpochCost | None = None, start: int = 0) -> int:
    """How many epochs after the first `done` fit `seconds_left` (0..`most`), a full-size epoch taking
    `full_epoch_seconds`, `fixed_seconds` of them for validation and epoch-end work; `epoch_cost` shrinks the steps
    of progressive resizing's early epochs, counted from the schedule's `start`. Without it, one division."""
    if epoch_cost is None:
        return max(min(math.floor(seconds_left / max(full_epoch_seconds, 1e-9)), most), 0)
    steps, fits = full_epoch_seconds - fixed_seconds, 0  # each candidate length summed anew: its shares differ
    while fits < most and _seconds(done - start, done + fits + 1 - start, steps, fixed_seconds,
                                   epoch_cost) <= seconds_left:
        fits += 1
    return fits


def _seconds(first: int, last: int, steps_seconds: float, fixed_seconds: float, epoch_cost: EpochCost) -> float:
    """Seconds of epochs first..last-1 of a run that ends with epoch `last`."""
    return sum(epoch_cost(epoch, last) * steps_seconds + fixed_seconds for epoch in range(first, last))


def _full_cost(epoch: int, last_epoch: int) -> float:
    """Every epoch at full size (no progressive resizing)."""
    return 1.0


def epoch_seconds(calibration: Calibration, steps_per_epoch: int) -> float:
    """Expected seconds of one epoch: its steps, the validation pass and the epoch-end bookkeeping."""
    return steps_per_epoch * calibration.step_seconds + calibration.evaluation_seconds + EPOCH_OVERHEAD_SECONDS


def calibration_seconds_for(budget_seconds: float) -> float:
    """How long to time steady training: ~3 % of the budget, between 0.5 and 3 seconds."""
    return min(max(0.03 * budget_seconds, 0.5), 3.0)


MAX_REPLANS = 3  # growing the plan, at most: each re-size bends the learning-rate curve
REPLAN_WINDOW = 8  # epochs whose mean duration plans the rest


class BudgetKeeper(keras.callbacks.Callback):
    """At epoch ends: stop at the planned last epoch, or re-size the schedule if the plan no longer fits."""

    def __init__(
        self, *, resize: Callable[[int], None], deadline: float, steps_per_epoch: int, initial_epoch: int,
        last_epoch: int, max_last_epoch: int, on_replan: Callable[[int], None], epoch_cost: EpochCost | None = None,
        fixed_seconds: float = 0.0,
    ):
        super().__init__()
        # Progressive resizing: an epoch's steps cost their share of a full epoch's, its `fixed_seconds` (validation,
        # epoch-end work) do not. None: every epoch costs the same.
        self.epoch_cost, self.fixed_seconds = epoch_cost, fixed_seconds
        self.resize, self.deadline, self.steps_per_epoch = resize, deadline, steps_per_epoch  # resize(total_steps)
        self.initial_epoch, self.last_epoch, self.max_last_epoch = initial_epoch, last_epoch, max_last_epoch
        self.on_replan = on_replan
        self.durations: list[float] = []
        self.costs: list[float] = []  # each finished epoch's share of a full-size epoch's steps
        self.replans = 0

    def on_train_begin(self, logs=None) -> None:
        self._last_end = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.monotonic()
        self.durations.append(now - self._last_end)
        self.costs.append(self._cost(epoch, self.last_epoch))
        self._last_end = now
        done = epoch + 1
        if self.model.stop_training or done >= self.last_epoch:
            self.model.stop_training = True
            return
        remaining = self.last_epoch - done
        # The mean of recent epochs predicts the sum of the next ones; on shared cores single epochs varied 24-44 s
        # (median of the last 3 re-planned a 900 s run ten times), one disturbed epoch moves 8 by an eighth.
        fits = epochs_that_fit(self.deadline - now, self._full_epoch_seconds(), self.fixed_seconds, done,
                               self.max_last_epoch - done, self.epoch_cost, self.initial_epoch)
        slower = fits < remaining
        faster = fits >= remaining + max(2, math.ceil(0.1 * remaining))
        # Shrinking is always allowed (otherwise the safety net would cut the schedule off); growing only
        # MAX_REPLANS times, so a machine whose speed swings does not keep bending the schedule.
        if slower or (faster and self.replans < MAX_REPLANS):
            if fits <= 0 and self._cost(epoch, self.last_epoch) < 1.0:
                fits = 1  # never end on shrunk images: one last epoch at full size, even if it runs late
            if fits <= 0:
                self.model.stop_training = True  # not even one more epoch fits: end with the best so far
                return
            self._resize_schedule(done + fits)

    def _cost(self, epoch: int, last_epoch: int) -> float:
        return (self.epoch_cost or _full_cost)(epoch - self.initial_epoch, last_epoch - self.initial_epoch)

    def _full_epoch_seconds(self) -> float:
        """A full-size epoch's expected seconds from the last REPLAN_WINDOW epochs: their mean when all were full size.

        Shrunk epochs count by their share of the time: the recent steps' seconds over their summed shares, plus
        the fixed part, so one slow 16-pixel epoch does not count 2.5 times over as the mean of scaled epochs would.
        """
        durations, costs = self.durations[-REPLAN_WINDOW:], self.costs[-REPLAN_WINDOW:]
        steps = sum(duration - self.fixed_seconds for duration in durations) / max(sum(costs), 1e-9)
        return steps + self.fixed_seconds

    def _resize_schedule(self, last_epoch: int) -> None:
        self.resize((last_epoch - self.initial_epoch) * self.steps_per_epoch)
        if last_epoch > self.last_epoch:
            self.replans += 1
        self.last_epoch = last_epoch
        self.on_replan(last_epoch)

"""Which numbers a run computes in: float32, unless the hardware makes 16-bit arithmetic pay.

Keras' mixed policies compute each layer in 16 bits while every weight stays float32, so a mixed run saves the
same float32 model as any other (cnn_core.training.job rebuilds it in float32 before scoring and saving):
- on a GPU with tensor cores (compute capability 7.0 or more), "mixed_float16"; Keras scales the loss so that
  small gradients survive float16;
- on a CPU with bfloat16 instructions (`avx512_bf16` or AMX), "mixed_bfloat16", but only where a few timed
  training steps of the run's own network show it at least BF16_MIN_SPEEDUP faster (some shapes are not);
- everywhere else float32. Without those instructions bfloat16 is emulated: 10x slower on an AVX2 EPYC
  (bench/bench_profile.py).
The softmax layer always computes in float32 (cnn_core.training.model). CNN_STUDIO_PRECISION=float32,
mixed_bfloat16 or mixed_float16 forces a choice (experiments, tests); "auto" or unset decides as above.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from cnn_core.training.runs import TrainingError

PRECISION_VARIABLE = "CNN_STUDIO_PRECISION"
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_MIN_SPEEDUP = 1.2  # below this, timing noise could pick the slower one; float32 needs no accuracy check
TIMED_STEPS = 3  # the fastest of these after the traced one: other processes only ever add time


@dataclass
class Precision:
    """The run's Keras dtype policy and why it was chosen (shown with the run, kept in its model's metadata)."""

    policy: str  # one of POLICIES
    # "forced", "gpu", "gpu_too_old", "no_bf16_instructions", "bf16_faster", "bf16_not_faster", "resumed" (the
    # checkpoint's), or "default" (a run's placeholder until cnn_core.training.job chooses)
    reason: str
    speedup: float | None = None  # float32 step time / bfloat16 step time, where it was measured


def cpu_flags_and_clock() -> tuple[str, set[str], float | None]:
    """(model name, flag set, clock in GHz) of the first CPU in /proc/cpuinfo; ("unknown", set(), None) elsewhere.

    macOS and Windows have no /proc: there the CPU counts as one without bfloat16 instructions (float32).
    """
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return "unknown", set(), None
    fields: dict[str, str] = {}
    for line in info.read_text().splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    clock = float(fields["cpu MHz"]) / 1000 if "cpu MHz" in fields else None
    return fields.get("model name", "unknown"), set(fields.get("flags", "").split()), clock


def choose_precision(step_seconds: Callable[[str], float], cpu_flags: set[str] | None = None) -> Precision:
    """The run's precision: forced by CNN_STUDIO_PRECISION, else by the hardware (see the module docstring).

    `step_seconds(policy)` times a training step of the run's network under a policy; it is called only on a
    CPU with bfloat16 instructions, once per policy.
    """
    forced = os.environ.get(PRECISION_VARIABLE, "auto").strip() or "auto"
    if forced != "auto":
        if forced not in POLICIES:
            raise TrainingError("bad_precision", name=PRECISION_VARIABLE, value=forced[:40], choices=", ".join(POLICIES))
        return Precision(forced, "forced")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        tensor_cores = tuple(details.get("compute_capability") or (0, 0)) >= (7, 0)
        return Precision("mixed_float16", "gpu") if tensor_cores else Precision("float32", "gpu_too_old")
    flags = cpu_flags_and_clock()[1] if cpu_flags is None else cpu_flags
    if not any(flag in flags for flag in BF16_FLAGS):
        return Precision("float32", "no_bf16_instructions")
    speedup = step_seconds("float32") / step_seconds("mixed_bfloat16")
    if speedup >= BF16_MIN_SPEEDUP:
        return Precision("mixed_bfloat16", "bf16_faster", speedup)
    return Precision("float32", "bf16_not_faster", speedup)


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Keras' global dtype policy set to `policy` inside the block (layers built there keep it), then put back."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def training_step_seconds(build: Callable[[], keras.Model], batch_size: int, policy: str) -> float:
    """Seconds of one forward and backward pass (no optimizer) of a fresh `build()` network under `policy`.

    Not pacing.estimate_step_seconds, which times the forward pass only: the backward pass is two thirds of a step
    and runs other kernels (on this AVX2 CPU at a quarter of peak against two thirds for the forward pass).
    """
    with dtype_policy(policy):
        model = build()
    images = tf.zeros((batch_size, *(int(size) for size in model.input_shape[1:])))

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.cast(model(batch, training=True), tf.float32))
        return tape.gradient(loss, model.trainable_variables)

    step(images)  # traces
    timings = []
    for _ in range(TIMED_STEPS):
        started = time.perf_counter()
        np.asarray(step(images)[0])
        timings.append(time.perf_counter() - started)
    return min(timings)

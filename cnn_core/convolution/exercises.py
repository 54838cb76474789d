"""Predict, then reveal: short exercises built from the settings a learner is looking at.

Each generator turns the page's current numbers (an image size, a kernel, a stride, a model's first
layer...) into one question with a single numeric answer and a worked solution in LaTeX. The learner
types a guess; `check` says whether it is right within the exercise's tolerance. The answers use the
same arithmetic as cnn_core.convolution.ops and Keras (tests compare them with Keras' own counts and
shapes). Questions are translation-table keys (`exercises.<kind>`) with their values; no Streamlit, no
TensorFlow: the convolution page must stay light.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from cnn_core.convolution.figures import latex_number
from cnn_core.convolution.ops import output_size
from cnn_core.i18n import TranslatableError

EXACT = 0.5  # counts and sizes are whole numbers: anything that rounds to the answer is right
RELATIVE = 0.01  # real-valued answers (sums, averages, probabilities) may be off by 1% or 0.005, whichever is larger
PATCH_VALUES = 10  # window and pooling exercises use pixel values 0..9, so the sums can be done by hand


class ExerciseError(TranslatableError, ValueError):
    """A guess that is not a number."""

    section = "errors.exercises"


@dataclass(frozen=True)
class Exercise:
    """One question: its table key and values, the answer, how close counts as right, and the worked answer."""

    kind: str  # "output_size", "conv_parameters", ... (the question is `exercises.<kind>.question`)
    values: dict = field(default_factory=dict)
    answer: float = 0.0
    tolerance: float = EXACT
    worked: str = ""  # LaTeX

    @property
    def identity(self) -> str:
        """A stable name for this exact question (the page keys its widgets and score by it)."""
        return f"{self.kind}:{sorted(self.values.items())}"


def parse_guess(text: str) -> float:
    """'1,234' -> 1234, '0.25' -> 0.25, '25%' -> 0.25, '１２' -> 12; ExerciseError for anything else."""
    cleaned = str(text).strip().replace(",", "").replace("，", "").replace(" ", "")
    cleaned = cleaned.translate({code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)}).replace("．", ".")
    share = cleaned.endswith(("%", "％"))
    if share:
        cleaned = cleaned[:-1]
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", cleaned, flags=re.IGNORECASE):
        raise ExerciseError("not_a_number", guess=str(text)[:40])
    value = float(cleaned)
    return value / 100 if share else value


def check(exercise: Exercise, guess: str) -> bool:
    """Whether `guess` (text as typed) is the answer within the exercise's tolerance."""
    return abs(parse_guess(guess) - exercise.answer) <= exercise.tolerance + 1e-9


def _real_tolerance(answer: float) -> float:
    return max(RELATIVE * abs(answer), 0.005)


def _matrix_latex(values: np.ndarray) -> str:
    rows = [" & ".join(latex_number(value, ".4g") for value in row) for row in np.asarray(values)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


# --- The convolution page. ---


def output_size_exercise(n: int, k: int, stride: int = 1, padding: str | int = "valid", dilation: int = 1) -> Exercise:
    """How many outputs along an axis of n pixels (ops.output_size: TensorFlow's rules)."""
    answer = output_size(n, k, stride, padding, dilation)
    if padding == "same":
        worked = rf"n_{{out}} = \left\lceil \frac{{n}}{{s}} \right\rceil = \left\lceil \frac{{{n}}}{{{stride}}} \right\rceil = {answer}"
    else:
        pad = padding if isinstance(padding, int) else 0
        worked = (rf"n_{{out}} = \left\lfloor \frac{{n + 2p - d(k-1) - 1}}{{s}} \right\rfloor + 1 = "
                  rf"\left\lfloor \frac{{{n} + {2 * pad} - {dilation}\cdot{k - 1} - 1}}{{{stride}}} \right\rfloor + 1 = {answer}")
    return Exercise("output_size", {"n": n, "k": k, "stride": stride, "padding": str(padding), "dilation": dilation},
                    float(answer), EXACT, worked)


def small_patch(size: int, seed: int) -> np.ndarray:
    """A size x size window of whole pixel values 0..9 (seeded, so a question stays put across reruns)."""
    return np.random.default_rng(seed).integers(0, PATCH_VALUES, (size, size)).astype(np.float64)


def window_sum_exercise(patch: np.ndarray, kernel: np.ndarray, bias: float = 0.0) -> Exercise:
    """One window's weighted sum: b + sum of patch * kernel (the kernel rounded as shown, to 4 decimals)."""
    kernel = np.round(np.asarray(kernel, dtype=np.float64), 4)
    patch = np.asarray(patch, dtype=np.float64)
    answer = float((patch * kernel).sum() + bias)
    worked = (rf"y = b + \sum_{{i,j}} w_{{i,j}}\,x_{{i,j}} = {latex_number(bias, '.3g')} + "
              rf"\sum {_matrix_latex(kernel)} \odot {_matrix_latex(patch)} = {latex_number(answer, '.4g')}")
    return Exercise("window_sum", {"patch": _matrix_latex(patch), "kernel": _matrix_latex(kernel),
                                   "bias": latex_number(bias, ".3g")}, answer, _real_tolerance(answer), worked)


def pooling_exercise(window: np.ndarray, mode: str = "max") -> Exercise:
    """Max or average of one pooling window."""
    values = np.asarray(window, dtype=np.float64)
    answer = float(values.max() if mode == "max" else values.mean())
    formula = r"\max" if mode == "max" else rf"\frac{{1}}{{{values.size}}}\sum"
    worked = rf"{formula} {_matrix_latex(values)} = {latex_number(answer, '.4g')}"
    return Exercise(f"pooling_{'max' if mode == 'max' else 'avg'}", {"window": _matrix_latex(values),
                                                                     "size": values.shape[0]},
                    answer, EXACT if mode == "max" else _real_tolerance(answer), worked)


# --- The training page. ---


def conv_parameters_exercise(k: int, in_channels: int, filters: int, bias: bool = True) -> Exercise:
    """Weights (k * k * in_channels per filter) plus one bias per filter, unless batch norm replaced the bias."""
    weights = k * k * in_channels * filters
    answer = weights + (filters if bias else 0)
    worked = rf"{k}\times{k}\times{in_channels}\times{filters}" + (rf" + {filters}" if bias else "") + rf" = {answer:,}"
    kind = "conv_parameters" if bias else "conv_parameters_no_bias"  # batch norm's offset replaces the bias
    return Exercise(kind, {"k": k, "channels": in_channels, "filters": filters}, float(answer), EXACT,
                    worked.replace(",", "{,}"))


def dense_parameters_exercise(inputs: int, units: int) -> Exercise:
    """A Dense layer: one weight per (input, unit) pair and one bias per unit."""
    answer = inputs * units + units
    worked = rf"{inputs}\times{units} + {units} = {answer:,}".replace(",", "{,}")
    return Exercise("dense_parameters", {"inputs": inputs, "units": units}, float(answer), EXACT, worked)


def softmax_exercise(scores: tuple[float, float, float], index: int = 0) -> Exercise:
    """p of score `index` among three: e^{z_i} / sum_j e^{z_j}."""
    values = np.asarray(scores, dtype=np.float64)
    exponentials = np.exp(values - values.max())
    answer = float(exponentials[index] / exponentials.sum())
    terms = " + ".join(rf"e^{{{latex_number(value, '.3g')}}}" for value in values)
    numbers = " + ".join(latex_number(math.exp(value), ".3g") for value in values)
    worked = (rf"p_{{{index + 1}}} = \frac{{e^{{{latex_number(values[index], '.3g')}}}}}{{{terms}}} = "
              rf"\frac{{{latex_number(math.exp(values[index]), '.3g')}}}{{{numbers}}} = {latex_number(answer, '.3g')}")
    return Exercise("softmax", {"scores": ", ".join(f"{value:g}" for value in values), "position": index + 1},
                    answer, _real_tolerance(answer), worked)


def small_scores(seed: int) -> tuple[float, float, float]:
    """Three scores with one decimal between -2 and 3 (seeded): e^z stays easy to estimate."""
    values = np.random.default_rng(seed).integers(-20, 31, 3) / 10
    return tuple(float(value) for value in values)


# --- Sets of exercises for a page's current settings. ---


def convolution_exercises(image_side: int, kernel: np.ndarray, stride: int, padding: str | int, dilation: int,
                          bias: float, pool_size: int, pool_mode: str, seed: int = 0) -> list[Exercise]:
    """The convolution page: the output size of this image's height, one window's sum, one pooling result."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return [
        output_size_exercise(image_side, kernel.shape[0], stride, padding, dilation),
        window_sum_exercise(small_patch(kernel.shape[0], seed), kernel, bias),
        pooling_exercise(small_patch(pool_size, seed + 1), "avg" if pool_mode == "avg" else "max"),
    ]


def training_exercises(kernel_size: int, first_filters: int, padding: str, batch_norm: bool, head_inputs: int,
                       num_classes: int, image_side: int = 32, seed: int = 0) -> list[Exercise]:
    """The training page: the first convolution's output size and parameters, the last layer's, a softmax."""
    conv = conv_parameters_exercise(kernel_size, 3, first_filters, bias=not batch_norm)
    return [
        output_size_exercise(image_side, kernel_size, 1, padding, 1),
        conv,
        dense_parameters_exercise(head_inputs, num_classes),
        softmax_exercise(small_scores(seed)),
    ]

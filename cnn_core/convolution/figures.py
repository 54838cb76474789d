"""Plotly figures and LaTeX formulas for the home and convolution pages (no Streamlit here, so scripts can use them).

Words (hover text, the few words inside formulas) come from `locales/<language>/figures.toml`; every
function that shows words takes a `language` keyword. Feature maps are signed, so they use a diverging colour scale centred on 0: blue below, white at 0,
red above. Maps bigger than the screen can show are reduced for display by keeping, in each block,
the value with the largest magnitude: a plain subsample would let thin edge lines vanish.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnn_core import i18n
from cnn_core.convolution.ops import Window, output_size, padding_amounts

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
MAP_DISPLAY_SIDE = 256  # heatmap cells per side sent to the browser (hover shows real coordinates)
IMAGE_DISPLAY_SIDE = 512


def _figure(traces: list, title: str, height: int, shapes: list[dict] | None = None,
            x_axis: dict | None = None, y_axis: dict | None = None) -> go.Figure:
    """One figure in a single constructor call: plotly validates each update, so fewer calls are faster."""
    layout = {
        "title": {"text": title, "font": {"size": 14}}, "height": height, "margin": {"l": 8, "r": 8, "t": 36, "b": 8},
        "xaxis": {"showgrid": False, "zeroline": False, "constrain": "domain", **(x_axis or {})},
        # Square pixels: with both axes constrained to their domain, plotly shrinks the plot area
        # instead of padding one axis with empty range.
        "yaxis": {"showgrid": False, "zeroline": False, "autorange": "reversed", "scaleanchor": "x",
                  "constrain": "domain", **(y_axis or {})},
        "shapes": shapes or [],
    }
    return go.Figure(data=traces, layout=layout)


def reduce_for_display(values: np.ndarray, max_side: int = MAP_DISPLAY_SIDE) -> tuple[np.ndarray, int]:
    """Shrink a 2-D map by an integer step, keeping each block's largest-magnitude value; returns (map, step)."""
    step = max(1, -(-max(values.shape) // max_side))
    if step == 1:
        return values, 1
    height, width = values.shape
    padded = np.zeros((-(-height // step) * step, -(-width // step) * step), dtype=values.dtype)
    padded[:height, :width] = values
    blocks = padded.reshape(padded.shape[0] // step, step, padded.shape[1] // step, step).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(blocks.shape[0], blocks.shape[1], step * step)
    strongest = np.abs(blocks).argmax(axis=2)[:, :, None]
    return np.take_along_axis(blocks, strongest, axis=2)[:, :, 0], step


def colour_limit(values: np.ndarray) -> float:
    """A symmetric colour range +-limit: the 99.5th percentile of |values|, so a few extreme pixels
    do not wash every other response out to white (hover still shows the exact values)."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float32))
    limit = float(np.percentile(magnitudes, 99.5)) if magnitudes.size else 0.0
    return limit or float(magnitudes.max(initial=0.0)) or 1.0


def _crosshair(row: float, col: float, half_height: float, half_width: float) -> list[dict]:
    """A box around one position plus dotted lines through it, visible even on a large image."""
    line = {"color": "#ff2b2b", "width": 1, "dash": "dot"}
    return [
        {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "y0": row, "y1": row, "line": line, "opacity": 0.8},
        {"type": "line", "yref": "y domain", "y0": 0, "y1": 1, "x0": col, "x1": col, "line": line, "opacity": 0.8},
        {"type": "rect", "x0": col - half_width, "x1": col + half_width, "y0": row - half_height,
         "y1": row + half_height, "line": {"color": "#ff2b2b", "width": 2}},
    ]


def feature_map_figure(values: np.ndarray, title: str, limit: float | None = None,
                       highlight: tuple[int, int] | None = None, colour_bar: bool = True,
                       height: int = 320, *, language: str = "en") -> go.Figure:
    """A signed 2-D map as a heatmap centred on 0 (symmetric range +-limit), optionally marking one cell."""
    limit = float(limit) if limit else colour_limit(values)
    shown, step = reduce_for_display(values)
    # Plotly fills %{...} in the browser; the words around them come from the table.
    hover = i18n.text(language, "figures.hover_cell", row="%{y}", col="%{x}", value="%{z:.3g}")
    if step > 1:
        hover += " " + i18n.text(language, "figures.strongest_of_block")
    heatmap = go.Heatmap(
        z=shown, x=np.arange(shown.shape[1]) * step, y=np.arange(shown.shape[0]) * step,
        colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit, showscale=colour_bar,
        # Below the map, not beside it: columns are narrow, so a side bar would shrink the map.
        colorbar={"orientation": "h", "thickness": 8, "y": -0.12, "yanchor": "top", "len": 0.9},
        hovertemplate=hover + "<extra></extra>",
    )
    shapes = _crosshair(highlight[0], highlight[1], 0.5 * step + 1, 0.5 * step + 1) if highlight else []
    return _figure([heatmap], title, height, shapes)


def _data_uri(array: np.ndarray) -> str:
    """The picture as an inline PNG (small images: exact pixels) or JPEG (large: 10x faster to encode)."""
    buffer = io.BytesIO()
    if array.shape[0] * array.shape[1] <= 300 * 300:
        Image.fromarray(array).save(buffer, "PNG", compress_level=1)
        kind = "png"
    else:
        Image.fromarray(array).save(buffer, "JPEG", quality=92)
        kind = "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_figure(array: np.ndarray, title: str, window: Window | None = None,
                 pads: tuple[int, int, int, int] = (0, 0, 0, 0), height: int = 320) -> go.Figure:
    """A uint8 HxW or HxWx3 image in pixel coordinates, with an optional kernel window drawn on it."""
    height_px, width_px = array.shape[:2]
    step = max(1, -(-max(height_px, width_px) // IMAGE_DISPLAY_SIDE))
    small = Image.fromarray(array).reduce(step) if step > 1 else Image.fromarray(array)
    # go.Image places pixel k's centre at x0 + k * dx: keep axes in the original image's pixels.
    offset = (step - 1) / 2
    traces: list = [go.Image(source=_data_uri(np.asarray(small.convert("RGB"))),
                             x0=offset, dx=step, y0=offset, dy=step, hoverinfo="skip")]
    top, bottom, left, right = pads
    shapes: list[dict] = []
    if any(pads):  # the zero padding around the image, dotted
        shapes.append({"type": "rect", "x0": -left - 0.5, "x1": width_px + right - 0.5, "y0": -top - 0.5,
                       "y1": height_px + bottom - 0.5, "line": {"color": "grey", "dash": "dot", "width": 1}})
    if window is not None:
        middle_row, middle_col = (window.rows[0] + window.rows[-1]) / 2, (window.cols[0] + window.cols[-1]) / 2
        shapes += _crosshair(middle_row, middle_col, (window.rows[-1] - window.rows[0]) / 2 + 0.5,
                             (window.cols[-1] - window.cols[0]) / 2 + 0.5)
        taps_y, taps_x = np.meshgrid(window.rows, window.cols, indexing="ij")
        traces.append(go.Scatter(x=taps_x.ravel(), y=taps_y.ravel(), mode="markers", hoverinfo="skip",
                                 marker={"color": "#ff2b2b", "size": 4}, showlegend=False))
    return _figure(traces, title, height, shapes, x_axis={"range": [-left - 0.5, width_px + right - 0.5]},
                   y_axis={"range": [height_px + bottom - 0.5, -top - 0.5], "autorange": False})


def matrix_figure(matrix: np.ndarray, title: str, diverging: bool = True, height: int = 240) -> go.Figure:
    """A small matrix (patch, kernel, products) with every value written in its cell."""
    values = np.asarray(matrix, dtype=np.float64)
    limit = float(np.abs(values).max()) or 1.0
    # The diverging range is stretched 1.5x so no cell gets so dark that its number is hard to read.
    colours = {"colorscale": DIVERGING, "zmin": -1.5 * limit, "zmax": 1.5 * limit} if diverging else \
        {"colorscale": "gray", "zmin": 0, "zmax": max(255.0, limit)}
    whole = np.allclose(values, np.round(values))  # pixel values: no pointless decimals
    digits = ".0f" if whole else ".3g"
    heatmap = go.Heatmap(z=values, texttemplate=f"%{{z:{digits}}}", textfont={"size": 13}, showscale=False,
                         hovertemplate="%{z:.4g}<extra></extra>", xgap=1, ygap=1, **colours)
    hidden = {"visible": False}
    return _figure([heatmap], title, height, x_axis=hidden, y_axis=hidden)


# --- Formulas -----------------------------------------------------------------------------------
# The general forms are language-neutral; the pages put a sentence in words next to each.

CONVOLUTION_SUM = r"y_{r,c} = b + \sum_{i=0}^{k_h-1}\sum_{j=0}^{k_w-1} w_{i,j}\, x_{\,r s + i d,\; c s + j d}"
CONVOLUTION_SUM_CHANNELS = (r"y_{r,c} = b + \sum_{ch}\sum_{i=0}^{k_h-1}\sum_{j=0}^{k_w-1} "
                            r"w_{i,j,ch}\, x_{\,r s + i d,\; c s + j d,\; ch}")
RELU = r"\operatorname{ReLU}(y) = \max(0,\, y)"
MAX_POOL = r"p_{r,c} = \max_{0 \le i,j < P} a_{\,r S + i,\; c S + j}"
AVG_POOL = r"p_{r,c} = \frac{1}{P^2} \sum_{0 \le i,j < P} a_{\,r S + i,\; c S + j}"
OUTPUT_SIZE = r"n_{out} = \left\lfloor \frac{n + 2p - d\,(k-1) - 1}{s} \right\rfloor + 1"
DENSE = r"\mathbf{z} = W\mathbf{x} + \mathbf{b}, \qquad z_k = b_k + \sum_i W_{k,i}\, x_i"
SOFTMAX = r"p_k = \operatorname{softmax}(\mathbf{z})_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}"
CROSS_ENTROPY = r"L = -\sum_{k=1}^{K} t_k \log p_k = -\log p_{c}"
GRADIENT_STEP = r"\theta \leftarrow \theta - \eta\, \frac{\partial L}{\partial \theta}"

_MAX_EXPANDED_TERMS = 25  # up to a 5x5 kernel every product is written out; bigger ones are summarised


def latex_number(value: float, digits: str = ".4g") -> str:
    """A number for LaTeX: no '-0', and '1e+04' written as a power of ten."""
    text = format(float(value), digits)
    if text in ("-0", "-0.0"):
        return "0"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa}\times 10^{{{int(exponent)}}}"
    return text


def _number(value: float, digits: str = ".4g") -> str:
    """Like latex_number, but sums up to millions in full: 12688, not 1.269 x 10^4 (a sum of pixels reads exactly)."""
    value = float(value)
    if 1e3 <= abs(value) < 1e7 and "e" in format(value, digits):
        return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
    return latex_number(value, digits)


def _factor(value: float, digits: str = ".4g") -> str:
    """A number that is multiplied: negative ones in parentheses, so "3 · (-2)" reads right."""
    text = _number(value, digits)
    return f"({text})" if text.startswith("-") else text


def output_size_latex(n: int, k: int, stride: int, padding: str | int, dilation: int, axis: str = "H",
                      *, language: str = "en") -> str:
    """The output-size formula with this axis' numbers filled in, ending in the result."""
    result = output_size(n, k, stride, padding, dilation)
    before, after = padding_amounts(n, k, stride, padding, dilation)
    if padding == "same":  # TensorFlow's "same" picks the padding so the output is ceil(n / s)
        words = i18n.text(language, "figures.same_padding", before=before, after=after)
        return rf"{axis}_{{out}} = \left\lceil \frac{{{n}}}{{{stride}}} \right\rceil = {result}\quad(\text{{{words}}})"
    return (rf"{axis}_{{out}} = \left\lfloor \frac{{{n} + 2\cdot {before} - {dilation}\cdot({k}-1) - 1}}{{{stride}}}"
            rf" \right\rfloor + 1 = {result}")


def window_sum_latex(window: Window, kernel: np.ndarray, bias: float, relu: bool) -> str:
    """The window's sum written out with its numbers: every w·x (one line per kernel row), then the total.

    A kernel applied to 3 channels at once (one Conv2D filter) shows one subtotal per channel instead.
    """
    weights = np.asarray(kernel, dtype=np.float64)
    patch = np.asarray(window.patch, dtype=np.float64)
    products = float(np.sum(window.products, dtype=np.float64))
    total = float(np.sum(window.total))
    name = rf"y_{{{window.row},{window.col}}}"
    if patch.ndim == 3 and weights.ndim == 3:  # summed over channels
        per_channel = np.sum(window.products, axis=(0, 1), dtype=np.float64)
        letters = "RGB" if len(per_channel) == 3 else [str(index) for index in range(len(per_channel))]
        terms = " + ".join(rf"\underbrace{{{_factor(value)}}}_{{{letter}}}" for value, letter in zip(per_channel, letters))
        lines = [rf"{name} &= {terms} + {_factor(bias)}"]
    elif weights.size <= _MAX_EXPANDED_TERMS:
        rows = [" + ".join(rf"{_factor(w, '.3g')}\cdot {_factor(x)}" for w, x in zip(w_row, x_row))
                for w_row, x_row in zip(weights, patch)]
        lines = [rf"{name} &= {rows[0]}"] + [rf"&\quad + {row}" for row in rows[1:]]
        lines[-1] += rf" + {_factor(bias)}"
        lines.append(rf"&= {_number(products)} + {_factor(bias)}")
    else:
        lines = [rf"{name} &= \underbrace{{{_number(products)}}}_{{\sum w \cdot x}} + {_factor(bias)}"]
    lines[-1] += rf" = {_number(total)}"
    if relu:
        lines[-1] += rf"\;\xrightarrow{{\operatorname{{ReLU}}}}\; {_number(max(total, 0.0))}"
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def relu_latex(value: float) -> str:
    """ReLU of one number, worked out."""
    return rf"\operatorname{{ReLU}}({_number(value)}) = \max(0,\, {_number(value)}) = {_number(max(value, 0.0))}"


def pooled_position(row: int, col: int, map_shape: tuple[int, ...], size: int, stride: int,
                    padding: str = "valid") -> tuple[int, int]:
    """The pooling output cell whose window covers map position (row, col) (the nearest one if none does)."""
    position = []
    for index, n in zip((row, col), map_shape[:2]):
        before = padding_amounts(n, size, stride, padding)[0]
        cells = output_size(n, size, stride, padding)
        position.append(min(max((index + before) // stride, 0), cells - 1))
    return position[0], position[1]


def pool_window_latex(values: np.ndarray, row: int, col: int, size: int, stride: int, mode: str,
                      padding: str = "valid") -> str:
    """One pooling output worked out: the window's values as a matrix, then their max or mean."""
    values = np.asarray(values, dtype=np.float64)
    first_row = row * stride - padding_amounts(values.shape[0], size, stride, padding)[0]
    first_col = col * stride - padding_amounts(values.shape[1], size, stride, padding)[0]
    # Padding cells are left out, as Keras does: max ignores them, the mean divides by real cells only.
    window = values[max(first_row, 0):first_row + size, max(first_col, 0):first_col + size]
    matrix = r" \\ ".join(" & ".join(_number(value) for value in line) for line in window)
    name, shown = rf"p_{{{row},{col}}}", rf"\begin{{pmatrix}}{matrix}\end{{pmatrix}}"
    if mode == "max":
        return rf"{name} = \max{shown} = {_number(window.max())}"
    return (rf"{name} = \operatorname{{mean}}{shown} = \frac{{{_number(window.sum())}}}{{{window.size}}}"
            rf" = {_number(window.mean())}")


def signed_map_image(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """A signed 2-D map as a uint8 RGB picture: blue for negative, white for 0, red for positive."""
    values = np.asarray(values, dtype=np.float32)
    limit = float(limit if limit is not None else np.abs(values).max()) or 1.0
    level = np.clip(values / limit, -1.0, 1.0)[:, :, None]
    white, red, blue = np.float32(255), np.array([178, 24, 43], np.float32), np.array([33, 102, 172], np.float32)
    # Blend from white towards red (positive) or blue (negative) in proportion to |value| / limit.
    colour = np.where(level >= 0, white + level * (red - white), white - level * (blue - white))
    return colour.round().astype(np.uint8)

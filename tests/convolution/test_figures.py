"""cnn_core.convolution.figures: display reductions keep what matters, formulas carry the right numbers."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.io
import pytest
from scipy import ndimage

from cnn_core.convolution import figures, ops


def test_reduction_keeps_a_one_pixel_edge_and_its_sign():
    values = np.zeros((1024, 1024), dtype=np.float32)
    values[:, 501] = -7.0  # a thin line a plain subsample ([::4]) would skip entirely
    shown, step = figures.reduce_for_display(values, max_side=256)
    assert step == 4 and shown.shape == (256, 256)
    assert (shown[:, 125] == -7.0).all() and np.count_nonzero(shown) == 256
    small = np.ones((10, 12), dtype=np.float32)
    assert figures.reduce_for_display(small)[1] == 1


def test_feature_map_is_centred_on_zero_and_marks_the_window():
    values = np.linspace(-3, 5, 400, dtype=np.float32).reshape(20, 20)
    spec = json.loads(plotly.io.to_json(figures.feature_map_figure(values, "map", 4.0, (3, 4)), validate=False))
    heatmap = spec["data"][0]
    assert (heatmap["zmin"], heatmap["zmid"], heatmap["zmax"]) == (-4.0, 0, 4.0)
    assert any(shape["type"] == "rect" and shape["x0"] < 4 < shape["x1"] for shape in spec["layout"]["shapes"])


def test_colour_limit_ignores_a_few_outliers():
    values = np.ones(10_000, dtype=np.float32)
    values[:5] = 1000.0
    assert figures.colour_limit(values) == 1.0
    assert figures.colour_limit(np.zeros(4)) == 1.0  # never a zero-width colour range


def test_image_figure_draws_the_window_where_the_taps_are():
    image = np.zeros((40, 30), dtype=np.uint8)
    window = ops.window_at(image, np.ones((3, 3)), 0, 0, padding=1, dilation=2)
    figure = figures.image_figure(image, "in", window, (1, 1, 1, 1))
    taps = figure.data[1]
    # Padding 1 puts the first tap one pixel outside the image; dilation 2 spaces the taps.
    assert sorted(set(taps.x)) == [-1, 1, 3] and sorted(set(taps.y)) == [-1, 1, 3]
    assert list(figure.layout.xaxis.range) == [-1.5, 30.5]  # the padding is in view
    box = [shape for shape in figure.layout.shapes if shape.type == "rect" and shape.line.color == "#ff2b2b"][0]
    assert (box.x0, box.x1, box.y0, box.y1) == (-1.5, 3.5, -1.5, 3.5)


def test_output_size_latex_evaluates_the_formula():
    assert figures.output_size_latex(28, 5, 2, 1, 1, "H").endswith("= 13")  # floor((28+2-5)/2)+1
    assert "(5-1)" in figures.output_size_latex(28, 5, 2, 1, 1) and "\\lfloor" in figures.output_size_latex(28, 5, 2, 1, 1)
    same = figures.output_size_latex(7, 4, 2, "same", 1)
    assert "\\lceil" in same and "= 4" in same and "1 + 2" in same  # ceil(7/2); 3 zeros split 1 + 2


def test_signed_map_image_colours():
    picture = figures.signed_map_image(np.array([[-2.0, 0.0, 2.0]]), limit=2.0)
    assert picture[0, 1].tolist() == [255, 255, 255]
    assert picture[0, 0, 2] > picture[0, 0, 0] and picture[0, 2, 0] > picture[0, 2, 2]  # blue, then red


# --- Formulas with the current numbers plugged in ---

_FACTOR = r"(\(?-?[\d.]+\)?)"


def _value(text: str) -> float:
    return float(text.strip("()"))


def _last_number(latex: str) -> float:
    return float(re.findall(r"= (-?[\d.]+)", latex)[-1])


def test_output_size_in_chinese_keeps_the_numbers():
    same = figures.output_size_latex(7, 4, 2, "same", 1, language="zh")
    assert "= 4" in same and "1 + 2" in same and "补了" in same
    assert figures.output_size_latex(28, 5, 2, 1, 1, language="zh") == figures.output_size_latex(28, 5, 2, 1, 1)


@pytest.mark.parametrize("stride, padding, dilation, bias", [(1, "valid", 1, 0.0), (2, 1, 2, 7.5), (3, "same", 1, -20.0)])
def test_window_sum_writes_out_every_product_and_adds_up_like_scipy(stride, padding, dilation, bias):
    image = np.random.default_rng(1).integers(0, 256, size=(17, 19)).astype(np.float32)
    kernel = np.array([[-1, 0, 1], [-2, 0.5, 2], [-1, 0, 1.25]], dtype=np.float32)
    conv = ops.conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    row, col = conv.shape[0] // 2, conv.shape[1] - 1
    window = ops.window_at(image, kernel, row, col, stride=stride, padding=padding, dilation=dilation, bias=bias)
    latex = figures.window_sum_latex(window, kernel, bias, relu=True)
    pairs = re.findall(_FACTOR + r"\\cdot " + _FACTOR, latex)
    assert len(pairs) == 9 and [_value(w) for w, _ in pairs] == kernel.ravel().tolist()
    # An independent reference: SciPy's correlate on the zero-padded image, read at the window's corner.
    pad_top = ops.padding_amounts(17, 3, stride, padding, dilation)[0]
    pad_left = ops.padding_amounts(19, 3, stride, padding, dilation)[0]
    padded = np.pad(image.astype(np.float64), 12)
    dilated = np.zeros((2 * dilation + 1, 2 * dilation + 1))
    dilated[::dilation, ::dilation] = kernel
    reference = ndimage.correlate(padded, dilated, mode="constant")  # centred: index + dilation is the corner
    expected = reference[12 + row * stride - pad_top + dilation, 12 + col * stride - pad_left + dilation] + bias
    assert sum(_value(w) * _value(x) for w, x in pairs) + bias == pytest.approx(expected, abs=0.05)
    before_relu = float(re.findall(r"= (-?[\d.]+)\\;\\xrightarrow", latex)[0])
    assert before_relu == pytest.approx(expected, rel=1e-3, abs=1e-2)
    after_relu = float(re.findall(r"\\xrightarrow\{\\operatorname\{ReLU\}\}\\; (-?[\d.]+)", latex)[0])
    assert after_relu == pytest.approx(max(expected, 0.0), rel=1e-3, abs=1e-2)


def test_window_sum_summarises_big_kernels_and_channel_sums():
    image = np.random.default_rng(2).integers(0, 256, size=(12, 12, 3)).astype(np.float32)
    big = np.ones((7, 7), dtype=np.float32)
    latex = figures.window_sum_latex(ops.window_at(image[:, :, 0], big, 0, 0), big, 0.0, relu=False)
    assert r"\sum w \cdot x" in latex and r"\cdot " not in latex.replace(r"\sum w \cdot x", "")
    assert _last_number(latex) == pytest.approx(image[:7, :7, 0].sum(), rel=1e-4)
    kernel = np.repeat(np.arange(9, dtype=np.float32).reshape(3, 3)[:, :, None], 3, axis=2)  # one Conv2D filter
    window = ops.window_at(image, kernel, 2, 3)
    latex = figures.window_sum_latex(window, kernel, 1.0, relu=False)
    channel_sums = [float(value) for value in re.findall(r"\\underbrace\{(-?[\d.]+)\}_\{[RGB]\}", latex)]
    expected = [(image[2:5, 3:6, c] * kernel[:, :, 0]).sum() for c in range(3)]
    np.testing.assert_allclose(channel_sums, expected, rtol=1e-3)
    assert _last_number(latex) == pytest.approx(sum(expected) + 1.0, rel=1e-4)


def test_relu_and_large_numbers_in_latex():
    assert figures.relu_latex(-3.5).endswith("= 0") and figures.relu_latex(2.25).endswith("= 2.25")
    assert figures._number(12688.0) == "12688" and figures._number(1.5e8) == r"1.5\times 10^{8}" and figures._number(-0.0) == "0"
    assert figures._factor(-2.0) == "(-2)"


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size, stride, padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "valid"), (3, 3, "same")])
def test_pool_window_matches_the_pooled_map(mode, size, stride, padding):
    values = np.random.default_rng(3).normal(size=(11, 13)).astype(np.float32)
    pooled = ops.pool2d(values, size, stride, mode, padding)
    for row, col in [(0, 0), (5, 7), (10, 12)]:
        cell = figures.pooled_position(row, col, values.shape, size, stride, padding)
        assert 0 <= cell[0] < pooled.shape[0] and 0 <= cell[1] < pooled.shape[1]
        latex = figures.pool_window_latex(values, *cell, size, stride, mode, padding)
        assert latex.startswith(f"p_{{{cell[0]},{cell[1]}}}") and ("\\max" in latex) == (mode == "max")
        assert _last_number(latex) == pytest.approx(float(pooled[cell]), abs=1e-3)
    # With windows that touch (stride <= size), the chosen window covers the position asked about.
    before = ops.padding_amounts(11, size, stride, padding)[0]
    row = 6
    cell_row = figures.pooled_position(row, 0, values.shape, size, stride, padding)[0]
    assert cell_row * stride - before <= row < cell_row * stride - before + size


def test_feature_map_hover_text_speaks_the_language():
    values = np.ones((4, 4), dtype=np.float32)
    english = figures.feature_map_figure(values, "map").data[0].hovertemplate
    chinese = figures.feature_map_figure(values, "map", language="zh").data[0].hovertemplate
    assert english.startswith("row %{y}, col %{x}: %{z:.3g}")
    assert chinese.startswith("第 %{y} 行，第 %{x} 列：%{z:.3g}")
    big = figures.feature_map_figure(np.ones((600, 600), dtype=np.float32), "map", language="zh").data[0]
    assert "最大" in big.hovertemplate

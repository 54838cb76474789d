"""cnn_core.figures: display reductions keep what matters, formulas carry the right numbers."""

from __future__ import annotations

import json

import numpy as np
import plotly.io

from cnn_core import figures, ops


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

"""The classify page's chart and formulas: numbers checked against SciPy/NumPy, words in both languages."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from cnn_core.classify import figures
from cnn_core.datasets.cifar import CIFAR10_CLASSES


def fraction_parts(latex: str) -> list[float]:
    r"""The numbers of the last \frac{...}{...} line: numerator first, then the denominator's terms, then the result."""
    last = re.sub(r"\\text\{[^}]*\}", "", latex.split(r"\\")[-1])  # "the other 7 classes" is not a term
    return [float(value) for value in re.findall(r"\d+(?:\.\d+)?", last)]


def test_softmax_formula_plugs_in_the_scores_and_matches_scipy():
    scores = np.array([1.2, 4.09, -0.3, 2.1, 0.5, 0.1, -1.0, 3.0, 0.2, -2.0])
    latex = figures.softmax_latex(scores, CIFAR10_CLASSES, 1)
    expected = scipy_softmax(scores)
    # The symbolic line: the chosen class first, then the next two largest scores, then the rest as "...".
    assert r"\frac{e^{4.09}}{e^{4.09} + e^{3.00} + e^{2.10} + \cdots}" in latex
    numerator, *terms, result = fraction_parts(latex)
    assert numerator == pytest.approx(math.exp(4.09), rel=2e-3)
    assert terms[:3] == pytest.approx([math.exp(4.09), math.exp(3.0), math.exp(2.1)], rel=2e-3)
    # The fourth term sums the 7 classes not written out; the whole denominator is sum(e^z).
    assert sum(terms) == pytest.approx(np.exp(scores).sum(), rel=3e-3)
    assert result == pytest.approx(expected[1], rel=2e-3)
    assert r"\text{the other 7 classes}" in latex and r"p_{\text{automobile}}" in latex


def test_softmax_formula_in_chinese_and_for_two_classes():
    latex = figures.softmax_latex([0.0, 1.0], ["cat", "dog"], 0, language="zh")
    assert r"p_{\text{猫}}" in latex and r"\cdots" not in latex
    assert fraction_parts(latex)[-1] == pytest.approx(scipy_softmax([0.0, 1.0])[0], rel=2e-3)
    assert r"\text{其余 7 类}" in figures.softmax_latex(np.arange(10.0), CIFAR10_CLASSES, 9, language="zh")


def test_softmax_formula_survives_huge_scores_and_rejects_mismatches():
    latex = figures.softmax_latex([800.0, 790.0], ["cat", "dog"], 0)
    assert latex.endswith(f"= {figures.number(scipy_softmax([800.0, 790.0])[0])}" + r"\end{aligned}")
    with pytest.raises(ValueError):
        figures.softmax_latex([1.0, 2.0], ["cat"], 0)
    with pytest.raises(ValueError):
        figures.softmax_latex([1.0, 2.0], ["cat", "dog"], 2)


def test_dense_formulas_show_the_sizes_and_the_sum():
    assert figures.dense_shapes_latex(1152, 10) == (
        r"\underbrace{\mathbf{z}}_{10} = \underbrace{W}_{10\times 1152}\,\underbrace{\mathbf{x}}_{1152}"
        r" + \underbrace{\mathbf{b}}_{10}")
    row = figures.dense_row_latex("cat", 4.12, -0.03, 1152, language="zh")
    assert row.startswith(r"z_{\text{猫}} = \sum_{i=1}^{1152} W_{\text{猫},\,i}")
    assert row.endswith("= 4.12 - 0.03 = 4.09")


def test_cross_entropy_is_minus_log_p():
    latex = figures.cross_entropy_latex("dog", 0.25, language="zh")
    assert latex == rf"L = -\log p_{{\text{{狗}}}} = -\log 0.25 = {figures.number(-math.log(0.25))}"
    assert latex.endswith("1.39")


def test_grad_cam_sum_writes_the_strongest_channels_first():
    latex = figures.grad_cam_sum_latex([0.1, -0.3, 0.05, 0.2, 0.0], "cat")
    assert latex == (r"L^{\text{cat}}_{\text{Grad-CAM}} = \operatorname{ReLU}\Big(-0.3\, A^{2} + 0.2\, A^{4}"
                     r" + 0.1\, A^{1} + \underbrace{\cdots}_{\text{2 more channels}}\Big)")
    assert r"\text{另外 2 个通道}" in figures.grad_cam_sum_latex([0.1, -0.3, 0.05, 0.2, 0.0], "cat", language="zh")
    assert r"\cdots" not in figures.grad_cam_sum_latex([0.5, 0.25], "cat")


def test_text_and_numbers_are_safe_latex():
    assert figures.tex_text("50%_off {x}") == r"\text{50\%\_off \{x\}}"
    assert figures.number(-0.0001, ".2g") == r"-0.0001"
    assert figures.number(-0.00001, ".1f") == "0"
    assert figures.number(123456.0) == r"1.23\times 10^{5}"


def test_top_k_chart_translates_class_names_and_axis():
    top = [("cat", 0.7), ("dog", 0.2), ("my_folder", 0.1)]
    figure = figures.top_k_figure(top, 0.5, language="zh")
    bars = figure.data[0]
    assert list(bars.y) == ["my_folder", "狗", "猫"]  # most likely at the top; folder names kept
    assert list(bars.x) == [0.1, 0.2, 0.7]
    assert figure.layout.xaxis.title.text == "概率"
    assert figure.layout.annotations[0].text == "50% 阈值"
    english = figures.top_k_figure(top, 0.5)
    assert list(english.data[0].y) == ["my_folder", "dog", "cat"] and english.layout.xaxis.title.text == "probability"


def test_zero_share_counts_what_relu_switched_off():
    assert figures.zero_share(np.maximum(np.array([[-1.0, 2.0], [0.5, -3.0]]), 0)) == 0.5
    assert figures.zero_share(np.zeros((0,))) == 0.0


def test_importing_classify_figures_does_not_import_tensorflow():
    code = "import sys, cnn_core.classify.figures; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_the_flip_average_formula_names_its_two_passes_in_the_pages_language():
    english = figures.flip_average_latex("cat", 0.4, 0.6)
    chinese = figures.flip_average_latex("cat", 0.4, 0.6, language="zh")
    assert r"p^{\text{photo}}" in english and r"p^{\text{mirror}}" in english and english.endswith("= 0.5")
    assert r"p^{\text{原图}}_{\text{猫}}" in chinese and r"p^{\text{镜像}}" in chinese
    assert "photo" not in chinese and "mirror" not in chinese

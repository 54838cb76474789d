"""The classify page's chart and formulas, with this image's numbers plugged in (no TensorFlow, no Streamlit).

Formulas are LaTeX for `st.latex`; the few words inside them (class names, "the other 7 classes")
come from the translation tables in the chosen `language`. Class names are passed as the model's ids
("cat") and shown translated ("猫"); a user's own folder names are kept as they are.
The numbers come from cnn_core.classify.explain: the real pre-softmax scores z of the last Dense layer
(not log p, which only recovers z up to a constant), Grad-CAM's channel weights, activations.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_core import i18n
from cnn_core.convolution.figures import latex_number
from cnn_core.untrusted import plotly_text

BAR_COLOUR = "#4c78a8"
SCORE = ".2f"  # logits are sums: fixed decimals, so e^{2.00} never reads as exactly e^2

# --- The general forms (language-neutral); ReLU and cross-entropy come from cnn_core.convolution.figures. ---

SOFTMAX = r"p_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}"
GRAD_CAM = (r"\alpha_k^{c} = \frac{1}{H W}\sum_{i=1}^{H}\sum_{j=1}^{W} \frac{\partial z_c}{\partial A^{k}_{i,j}},"
            r"\qquad L^{c}_{\text{Grad-CAM}} = \operatorname{ReLU}\Big(\sum_{k} \alpha_k^{c} A^{k}\Big)")
CONVOLUTION = r"y_{r,c} = b + \sum_{ch=1}^{3}\sum_{i=1}^{k}\sum_{j=1}^{k} w_{i,j,ch}\; x_{r+i-1,\,c+j-1,\,ch}"

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "&": r"\&",
                 "#": r"\#", "$": r"\$", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def tex_text(words: str) -> str:
    r"""`words` as a safe `\text{...}` (a user's class folder may be called "50%_off")."""
    return r"\text{" + "".join(_TEXT_ESCAPES.get(char, char) for char in str(words)) + "}"


def number(value: float, digits: str = ".3g") -> str:
    """A number for LaTeX (figures.latex_number), to three significant digits unless told otherwise."""
    return latex_number(value, digits)


def _signed(value: float, digits: str = ".3g") -> str:
    """'+ 1.2' or '- 1.2', to continue a sum."""
    return ("- " if value < 0 else "+ ") + number(abs(value), digits)


def _label(language: str, class_name: str) -> str:
    return tex_text(i18n.class_label(language, class_name))


# --- The top-k chart. ---


def top_k_figure(top: Sequence[tuple[str, float]], threshold: float, *, language: str = "en") -> go.Figure:
    """Horizontal bars of the top-k (class id, probability) pairs, most likely at the top, threshold dotted."""
    # Escaped: a class name is a visitor's folder name, and Plotly labels understand <a href> and $...$.
    labels = [plotly_text(i18n.class_label(language, name)) for name, _ in top][::-1]
    values = [float(p) for _, p in top][::-1]
    figure = go.Figure(go.Bar(x=values, y=labels, orientation="h", text=[f"{v:.1%}" for v in values],
                              textposition="auto", marker_color=BAR_COLOUR,
                              hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    figure.add_vline(x=threshold, line_dash="dot", line_color="grey",
                     annotation_text=i18n.text(language, "explain.threshold_note", threshold=f"{threshold:.0%}"),
                     # Above the bars (the top margin leaves room), never on top of one.
                     annotation_position="top", annotation_yanchor="bottom", annotation_font_color="grey")
    figure.update_layout(height=80 + 32 * len(top), margin=dict(l=10, r=10, t=30, b=30),
                         xaxis=dict(range=[0, 1], tickformat=".0%",
                                    title=i18n.text(language, "explain.probability_axis")))
    return figure


# --- The last layer: z = W x + b, then softmax, then the loss training would see. ---


def dense_shapes_latex(inputs: int, classes: int) -> str:
    """z = W x + b with this layer's sizes under each symbol."""
    return (rf"\underbrace{{\mathbf{{z}}}}_{{{classes}}} = \underbrace{{W}}_{{{classes}\times {inputs}}}\,"
            rf"\underbrace{{\mathbf{{x}}}}_{{{inputs}}} + \underbrace{{\mathbf{{b}}}}_{{{classes}}}")


def dense_row_latex(class_name: str, weighted_sum: float, bias: float, inputs: int, *, language: str = "en") -> str:
    """One class's score written out: z_c = sum_i W_{c,i} x_i + b_c = (the sum) + (the bias) = z_c."""
    label = _label(language, class_name)
    return (rf"z_{{{label}}} = \sum_{{i=1}}^{{{inputs}}} W_{{{label},\,i}}\, x_i + b_{{{label}}}"
            rf" = {number(weighted_sum, SCORE)} {_signed(bias, SCORE)} = {number(weighted_sum + bias, SCORE)}")


def softmax_latex(logits: Sequence[float], class_names: Sequence[str], index: int, shown: int = 3, *,
                  language: str = "en") -> str:
    """p for class `index` with this image's scores: the `shown` largest terms written out, the rest summed."""
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 1 or len(values) != len(class_names) or not 0 <= index < len(values):
        raise ValueError(f"Need one score per class and a class index inside them (got {values.shape}, {index}).")
    # The raw exponentials, as the formula has them (number() writes large ones as powers of ten);
    # past e^700 float64 overflows, and only the symbolic line and the result are shown.
    exponentials = np.exp(values) if values.max() < 700 else None
    order = [int(i) for i in np.argsort(-values, kind="stable")]
    order.remove(index)
    written = [index] + order[: max(shown - 1, 0)]
    rest = order[max(shown - 1, 0):]
    probability = float(np.exp(values[index] - values.max()) / np.exp(values - values.max()).sum())
    label = _label(language, class_names[index])
    symbolic = " + ".join(rf"e^{{{number(values[k], SCORE)}}}" for k in written) + (r" + \cdots" if rest else "")
    lines = [rf"p_{{{label}}} &= \frac{{e^{{z_{{{label}}}}}}}{{\sum_j e^{{z_j}}}}"
             rf" = \frac{{e^{{{number(values[index], SCORE)}}}}}{{{symbolic}}}"]
    if exponentials is not None:
        numeric = " + ".join(number(exponentials[k]) for k in written)
        if rest:
            words = tex_text(i18n.text(language, "explain.other_classes", count=len(rest)))
            numeric += rf" + \underbrace{{{number(exponentials[rest].sum())}}}_{{{words}}}"
        lines.append(rf"&= \frac{{{number(exponentials[index])}}}{{{numeric}}} = {number(probability)}")
    else:
        lines[-1] += rf" = {number(probability)}"
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def flip_average_latex(class_name: str, photo: float, mirror: float, *, language: str = "en") -> str:
    """The reported probability of test-time flip: the mean of the photo's and its mirror image's."""
    label = _label(language, class_name)
    first, second = (tex_text(i18n.text(language, f"explain.flip_{name}")) for name in ("photo", "mirror"))
    return (rf"p_{{{label}}} = \tfrac12\bigl(p^{{{first}}}_{{{label}}} + p^{{{second}}}_{{{label}}}\bigr)"
            rf" = \tfrac12\bigl({number(photo)} + {number(mirror)}\bigr) = {number((photo + mirror) / 2)}")


def cross_entropy_latex(class_name: str, probability: float, *, language: str = "en") -> str:
    """The loss training would give this image if `class_name` were its label: -log p."""
    label = _label(language, class_name)
    loss = -np.log(max(float(probability), 1e-12))
    return (rf"L = -\log p_{{{label}}} = -\log {number(probability)} = {number(loss)}")


# --- Grad-CAM and activations. ---


def grad_cam_sum_latex(channel_weights: Sequence[float], class_name: str, shown: int = 3, *,
                       language: str = "en") -> str:
    """Grad-CAM's sum with this image's weights: the `shown` channels with the largest |alpha| written out."""
    weights = np.asarray(channel_weights, dtype=np.float64)
    order = [int(k) for k in np.argsort(-np.abs(weights), kind="stable")]
    written, rest = order[:shown], order[shown:]
    first, *others = written
    terms = rf"{number(weights[first])}\, A^{{{first + 1}}}"  # the first term carries its own sign
    terms += "".join(rf" {_signed(weights[k])}\, A^{{{k + 1}}}" for k in others)
    if rest:
        words = tex_text(i18n.text(language, "explain.more_channels", count=len(rest)))
        terms += rf" + \underbrace{{\cdots}}_{{{words}}}"
    return rf"L^{{{_label(language, class_name)}}}_{{\text{{Grad-CAM}}}} = \operatorname{{ReLU}}\Big({terms}\Big)"


def zero_share(activation: np.ndarray) -> float:
    """Fraction of a feature map's values that are exactly 0 (what a ReLU switched off)."""
    values = np.asarray(activation)
    return float(np.mean(values == 0)) if values.size else 0.0

"""Charts and formulas for the probes (occlusion, what-if curves, the adversarial lab), with text alternatives.

Every chart comes with the numbers it shows as a plain table (`*_table`), so a screen reader or a
printout carries the same information. Colour scales are colour-blind safe: Cividis for a one-sided
quantity (a probability drop), the Okabe-Ito palette for lines that must be told apart. No TensorFlow,
no Streamlit; words come from the translation tables in the reader's `language`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_core import i18n
from cnn_core.classify.figures import number, tex_text

SEQUENTIAL = "Cividis"  # perceptually even and readable with every common colour-vision deficiency
# Okabe & Ito (2008): eight colours distinguishable with protanopia, deuteranopia and tritanopia.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
DASHES = ["solid", "dash", "dot", "dashdot"]  # a second cue besides colour


def _words(language: str, key: str, **values: object) -> str:
    return i18n.text(language, f"probes.{key}", **values)


# --- Occlusion. ---


def occlusion_figure(drops: np.ndarray, rows: Sequence[int], cols: Sequence[int], *, language: str = "en") -> go.Figure:
    """The probability drop at each patch position (row = patch's top edge, column = its left edge)."""
    figure = go.Figure(go.Heatmap(
        z=np.asarray(drops), x=list(cols), y=list(rows), colorscale=SEQUENTIAL,
        colorbar=dict(title=_words(language, "occlusion.legend")),
        hovertemplate=_words(language, "occlusion.hover") + "<extra></extra>"))
    figure.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10),
                         xaxis=dict(title=_words(language, "occlusion.left"), constrain="domain"),
                         yaxis=dict(title=_words(language, "occlusion.top"), autorange="reversed", scaleanchor="x"))
    return figure


def occlusion_table(drops: np.ndarray, rows: Sequence[int], cols: Sequence[int], *, language: str = "en",
                    shown: int = 5) -> list[dict]:
    """The `shown` patch positions that hurt most: the chart's text alternative."""
    values = np.asarray(drops)
    order = np.argsort(-values, axis=None, kind="stable")[:shown]
    top, left, drop = (_words(language, f"occlusion.{key}") for key in ("top", "left", "drop"))
    return [{top: int(rows[r]), left: int(cols[c]), drop: round(float(values[r, c]), 4)}
            for r, c in (np.unravel_index(index, values.shape) for index in order)]


def drop_colours(pixel_drop: np.ndarray) -> np.ndarray:
    """A (h, w) drop map as uint8 RGB in Cividis, scaled so the largest drop is the brightest colour."""
    import plotly.colors

    values = np.clip(np.asarray(pixel_drop, dtype=np.float64), 0.0, None)
    peak = float(values.max())
    scaled = values / peak if peak > 0 else values
    stops = plotly.colors.get_colorscale(SEQUENTIAL)  # [[position, "#rrggbb"], ...]
    anchors = np.array([position for position, _ in stops])
    rgb = np.array([plotly.colors.hex_to_rgb(colour) for _, colour in stops], dtype=np.float64)
    return np.stack([np.interp(scaled, anchors, rgb[:, channel]) for channel in range(3)], axis=-1).round().astype(np.uint8)


# --- What-if curves. ---


def curve_figure(levels: Sequence[float], probabilities: np.ndarray, shown: Sequence[int], labels: Sequence[str],
                 kind: str, current: float, *, language: str = "en") -> go.Figure:
    """Probability of each class in `shown` across one slider's range; the slider's position dotted."""
    figure = go.Figure()
    for line, (index, label) in enumerate(zip(shown, labels)):
        figure.add_trace(go.Scatter(x=list(levels), y=np.asarray(probabilities)[:, index], mode="lines+markers",
                                    name=label, line=dict(color=OKABE_ITO[line % len(OKABE_ITO)],
                                                          dash=DASHES[line % len(DASHES)])))
    figure.add_vline(x=float(current), line_dash="dot", line_color="grey")
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.12),
                         xaxis=dict(title=_words(language, f"whatif.units.{kind}")),
                         yaxis=dict(title=_words(language, "probability"), range=[0, 1], tickformat=".0%"))
    return figure


def curve_table(levels: Sequence[float], probabilities: np.ndarray, shown: Sequence[int], labels: Sequence[str],
                kind: str, *, language: str = "en") -> dict[str, list]:
    """The curve's numbers as columns: the level, then one probability column per class shown."""
    table = {_words(language, f"whatif.units.{kind}"): [round(float(level), 3) for level in levels]}
    for index, label in zip(shown, labels):
        table[label] = [round(float(value), 4) for value in np.asarray(probabilities)[:, index]]
    return table


# --- The adversarial lab. ---

FGSM = r"x_{adv} = \operatorname{clip}_{[0,\,255]}\big(x + \epsilon \cdot \operatorname{sign}(\nabla_x L(x, y))\big)"
PGD = (r"x^{(t+1)} = \operatorname{clip}_{[x-\epsilon,\, x+\epsilon] \cap [0,\,255]}"
       r"\big(x^{(t)} + \alpha \cdot \operatorname{sign}(\nabla_x L(x^{(t)}, y))\big)")


def fgsm_pixel_latex(original: float, gradient: float, epsilon: float, adversarial: float) -> str:
    """One pixel's step with this photo's numbers: x + epsilon * sign(gradient) = x_adv."""
    sign = int(np.sign(gradient))
    return (rf"{number(original, '.0f')} + {number(epsilon, 'g')} \cdot \operatorname{{sign}}({number(gradient)})"
            rf" = {number(original, '.0f')} {'+' if sign >= 0 else '-'} {number(abs(sign) * epsilon, 'g')}"
            rf" = {number(adversarial, '.0f')}")


def loss_latex(label: str, before: float, after: float) -> str:
    """The loss of the attacked class before and after: L = -log p rises."""
    name = tex_text(label)
    return (rf"L_{{{name}}}: \; -\log p = {number(before)} \;\longrightarrow\; {number(after)}")


def epsilon_figure(epsilons: Sequence[float], accuracies: Sequence[float], attack: str, *,
                   language: str = "en") -> go.Figure:
    """Test accuracy against epsilon (pixel units), one line."""
    figure = go.Figure(go.Scatter(x=list(epsilons), y=list(accuracies), mode="lines+markers", name=attack.upper(),
                                  line=dict(color=OKABE_ITO[0]), text=[f"{value:.1%}" for value in accuracies],
                                  textposition="top center"))
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10),
                         xaxis=dict(title=_words(language, "adversarial.epsilon_axis")),
                         yaxis=dict(title=_words(language, "adversarial.accuracy_axis"), range=[0, 1], tickformat=".0%"))
    return figure


def epsilon_table(epsilons: Sequence[float], accuracies: Sequence[float], *, language: str = "en") -> dict[str, list]:
    """The chart's numbers: epsilon and accuracy."""
    return {_words(language, "adversarial.epsilon_axis"): [float(value) for value in epsilons],
            _words(language, "adversarial.accuracy_axis"): [round(float(value), 4) for value in accuracies]}


def kernel_tile(kernel: np.ndarray, scale: int = 8) -> np.ndarray:
    """A 2-D kernel as an enlarged grey picture: 0 is grey 128, the largest |weight| 0 or 255."""
    values = np.asarray(kernel, dtype=np.float64)
    peak = float(np.abs(values).max())
    scaled = values / peak if peak > 0 else values
    pixels = (128 + 127 * scaled).round().astype(np.uint8)
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)

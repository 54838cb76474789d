"""Runs side by side: their validation curves overlaid, per-class accuracy, and the test images that one run
gets right and another gets wrong. Plain data in, figures and rows out (no Streamlit, no TensorFlow)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core import i18n

# Okabe-Ito: eight colours that colour-blind readers tell apart (one per run; more runs reuse them dashed).
RUN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FIGURE_HEIGHT = 340


def run_colour(index: int) -> tuple[str, str]:
    """(colour, dash) of the index-th run: solid lines first, then the same colours dashed."""
    return RUN_COLOURS[index % len(RUN_COLOURS)], "solid" if index < len(RUN_COLOURS) else "dash"


def overlay_figure(histories: dict[str, list[dict[str, Any]]], *, language: str = "en") -> go.Figure:
    """Validation loss and accuracy per epoch, one colour per run (training curves dotted, same colour)."""
    def word(key: str) -> str:
        return i18n.text(language, f"training_figures.{key}")

    figure = make_subplots(rows=1, cols=2, subplot_titles=(word("loss_per_epoch"), word("accuracy_per_epoch")),
                           horizontal_spacing=0.1)
    figure.update_layout(height=FIGURE_HEIGHT, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", x=1, xanchor="right", y=1.12, yanchor="bottom"))
    figure.update_xaxes(title_text=word("epoch"))
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    for index, (label, epochs) in enumerate(histories.items()):
        colour, dash = run_colour(index)
        x = [event["epoch"] for event in epochs]
        for column, name in ((1, "loss"), (2, "accuracy")):
            figure.add_scatter(x=x, y=[event.get(f"val_{name}") for event in epochs], mode="lines+markers",
                               line=dict(color=colour, dash=dash), name=label, legendgroup=label,
                               showlegend=column == 1, row=1, col=column)
            figure.add_scatter(x=x, y=[event.get(name) for event in epochs], mode="lines",
                               line=dict(color=colour, dash="dot", width=1), name=f"{label} ({word('training')})",
                               legendgroup=label, showlegend=False, row=1, col=column)
    return figure


def per_class_rows(finishes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per class: its test accuracy in each run (None where a run has no such class)."""
    classes = list(dict.fromkeys(name for finish in finishes.values() for name in finish["per_class_accuracy"]))
    return [{"class": name, **{label: finish["per_class_accuracy"].get(name) for label, finish in finishes.items()}}
            for name in classes]


def disagreements(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices the first run gets right and the second wrong, indices the second gets right and the first wrong)."""
    labels, first, second = (np.asarray(values) for values in (labels, first, second))
    right_first, right_second = first == labels, second == labels
    return np.flatnonzero(right_first & ~right_second), np.flatnonzero(right_second & ~right_first)


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rows whose cells mix numbers and settings, as text (a table column must hold one type): 0.7712 -> "77.1 %"
    for shares, other numbers to 4 significant digits."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1%}" if 0 <= value <= 1 else f"{value:.4g}"
        return "–" if value is None else str(value)

    return [{key: cell(value) if key else value for key, value in row.items()} for row in rows]

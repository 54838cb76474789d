"""Plotly figures and live-progress numbers for the training page, built from a run's events.

Everything here is plain data in, figure (or dict) out: no Streamlit, and no TensorFlow except
`schedule_figure`, which asks `cnn_core.training.model` for the learning rate. The event dicts are those of
`cnn_core.training.launch` (`{"type": "batch", ...}`, `{"type": "epoch", ...}`, ...). Every word on a chart
comes from `locales/<language>/training_figures.toml`; CIFAR-10 class names through `i18n.class_label`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_core import i18n
from cnn_core.training.config import TrainConfig
from cnn_core.training.schedules import learning_rate_at
from cnn_core.untrusted import plotly_text

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
# At most this many points per line: a long run streams thousands of batch events, and the browser
# redraws the whole chart every second.
MAX_POINTS = 1500
FIGURE_HEIGHT = 320
# Per-class charts show at most this many classes: 1,000 bars or a 1,000x1,000 heatmap (a 30 MB figure)
# would take minutes to send and draw, and nobody can read them. The rest are grouped or left to the table.
MAX_CHART_CLASSES = 20


def _word(language: str, key: str, **values: object) -> str:
    return i18n.text(language, f"training_figures.{key}", **values)


def _class_text(language: str, class_name: str) -> str:
    """A class name as a chart shows it: translated if it is CIFAR-10's, escaped (a visitor may have named it)."""
    return plotly_text(i18n.class_label(language, class_name))


def _thin(*columns: np.ndarray, max_points: int = MAX_POINTS) -> list[np.ndarray]:
    """Every k-th point of each column so that at most `max_points` remain (the last one kept)."""
    length = len(columns[0])
    if length <= max_points:
        return list(columns)
    keep = np.unique(np.append(np.linspace(0, length - 1, max_points).astype(int), length - 1))
    return [column[keep] for column in columns]


def _two_panels(left_title: str, right_title: str, x_title: str) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left_title, right_title), horizontal_spacing=0.1)
    figure.update_layout(height=FIGURE_HEIGHT, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", x=1, xanchor="right", y=1.12, yanchor="bottom"))
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(rangemode="tozero", row=1, col=1)
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    return figure


def batch_figure(batch_events: list[dict[str, Any]], steps_per_epoch: int,
                 epoch_range: tuple[int, int] | None = None, *, language: str = "en") -> go.Figure:
    """Per-batch loss and accuracy (already smoothed by the trainer) against fractional epochs.

    `epoch_range` (first, last epoch of the run) fixes the x axis, so a live chart shows how far is left.
    """
    figure = _two_panels(_word(language, "loss_per_batch"), _word(language, "accuracy_per_batch"),
                         _word(language, "epoch"))
    if epoch_range:
        figure.update_xaxes(range=[epoch_range[0] - 1, epoch_range[1]])
    steps = max(int(steps_per_epoch), 1)
    x = np.array([event["epoch"] - 1 + event["step"] / steps for event in batch_events], dtype=float)
    for column, name in ((1, "loss"), (2, "accuracy")):
        values = np.array([event[name] if event[name] is not None else np.nan for event in batch_events], dtype=float)
        x_shown, values_shown = _thin(x, values)
        figure.add_scatter(x=x_shown, y=values_shown, mode="lines", line=dict(color=TRAIN_COLOR, width=2),
                           name=_word(language, name), showlegend=False, row=1, col=column)
    return figure


def epoch_figure(epoch_events: list[dict[str, Any]], epoch_range: tuple[int, int] | None = None, *,
                 language: str = "en") -> go.Figure:
    """Training and validation loss and accuracy after each epoch (x axis fixed to `epoch_range` if given)."""
    figure = _two_panels(_word(language, "loss_per_epoch"), _word(language, "accuracy_per_epoch"),
                         _word(language, "epoch"))
    if epoch_range:
        figure.update_xaxes(range=[epoch_range[0] - 0.5, epoch_range[1] + 0.5])
    epochs = [event["epoch"] for event in epoch_events]
    for column, name in ((1, "loss"), (2, "accuracy")):
        for prefix, label, color in (("", "training", TRAIN_COLOR), ("val_", "validation", VALIDATION_COLOR)):
            values = [event.get(prefix + name) for event in epoch_events]
            figure.add_scatter(x=epochs, y=values, mode="lines+markers", line=dict(color=color),
                               name=_word(language, label), legendgroup=label, showlegend=column == 1,
                               row=1, col=column)
    span = (epoch_range[1] - epoch_range[0] + 1) if epoch_range else len(epochs)
    figure.update_xaxes(dtick=1 if span <= 20 else None)  # whole epochs, unless that crowds the axis
    return figure


def epoch_table(epoch_events: list[dict[str, Any]], *, language: str = "en") -> dict[str, list]:
    """The epoch chart's numbers as columns (its text alternative): epoch, then loss and accuracy of both splits."""
    table: dict[str, list] = {_word(language, "epoch"): [event["epoch"] for event in epoch_events]}
    for name in ("loss", "accuracy"):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = [event.get(prefix + name) for event in epoch_events]
            table[f"{_word(language, name)} ({_word(language, label)})"] = [
                None if value is None else round(float(value), 4) for value in values]
    return table


def schedule_figure(config: TrainConfig, steps_per_epoch: int, *, language: str = "en") -> go.Figure:
    """The learning rate over the run (`cnn_core.training.schedules.learning_rate_at`), against epochs."""
    steps_per_epoch = max(int(steps_per_epoch), 1)
    total_steps = steps_per_epoch * config.epochs
    steps = np.unique(np.linspace(0, total_steps, min(total_steps + 1, 400)).astype(int))
    rates = [learning_rate_at(config, int(step), total_steps) for step in steps]
    figure = go.Figure(go.Scatter(x=steps / steps_per_epoch, y=rates, mode="lines", line=dict(color=TRAIN_COLOR)))
    figure.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), title=_word(language, "schedule_title"),
                         xaxis_title=_word(language, "epoch"), yaxis_title=_word(language, "learning_rate"),
                         yaxis_rangemode="tozero")
    return figure


def per_class_figure(accuracies: dict[str, float | None], *, language: str = "en") -> go.Figure:
    """Test accuracy of each class as bars (None: the class has no test images); beyond MAX_CHART_CLASSES, the
    classes with the lowest accuracy, lowest first (a 1,000-class chart would be unreadable and megabytes big)."""
    title = _word(language, "per_class_title")
    if len(accuracies) > MAX_CHART_CLASSES:
        lowest = sorted(accuracies, key=lambda name: -1.0 if accuracies[name] is None else accuracies[name])
        accuracies = {name: accuracies[name] for name in lowest[:MAX_CHART_CLASSES]}
        title = _word(language, "per_class_lowest", shown=MAX_CHART_CLASSES, classes=len(lowest))
    values = list(accuracies.values())
    figure = go.Figure(go.Bar(x=[_class_text(language, name) for name in accuracies],
                              y=[0 if value is None else value for value in values],
                              marker_color=TRAIN_COLOR, textposition="outside",
                              text=["–" if value is None else f"{value:.0%}" for value in values]))
    figure.update_layout(height=FIGURE_HEIGHT, margin=dict(l=10, r=10, t=30, b=10),
                         title=title, yaxis=dict(range=[0, 1.1], tickformat=".0%"))
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: list[str], *, language: str = "en") -> go.Figure:
    """Confusion matrix heatmap: rows are true classes, columns predicted ones; cells are clickable.

    The axes show the classes in `language`; a click reports that label, and `confusion_cell` maps it
    back. Streamlit reports no selection for heatmap traces (streamlit/streamlit#8760), so a scatter of
    almost invisible square markers sits on the cell centres: clicking a cell selects its marker.
    """
    counts = np.asarray(matrix, dtype=int)
    labels = [_class_text(language, name) for name in class_names]
    if len(class_names) > MAX_CHART_CLASSES:
        keep = chart_classes(counts)
        counts = grouped_matrix(counts, keep)
        labels = [labels[index] for index in keep] + [_word(language, "other_classes", count=len(class_names) - len(keep))]
    figure = go.Figure(go.Heatmap(z=counts, x=labels, y=labels, colorscale="Blues", text=counts,
                                  texttemplate="%{text}", hoverinfo="skip"))
    rows, columns = np.indices(counts.shape)
    hover = _word(language, "cell_hover", true="%{y}", predicted="%{x}", count="%{customdata}")
    figure.add_scatter(
        x=[labels[column] for column in columns.ravel()], y=[labels[row] for row in rows.ravel()],
        mode="markers", marker=dict(symbol="square", size=28, opacity=0.01, color="black"),
        customdata=counts.ravel(), showlegend=False, hovertemplate=hover + "<extra></extra>",
    )
    figure.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10), title=_word(language, "confusion_title"),
                         xaxis_title=_word(language, "predicted_class"), yaxis_title=_word(language, "true_class"),
                         clickmode="event+select")
    figure.update_yaxes(autorange="reversed")  # first class at the top, as in a table
    return figure


def chart_classes(matrix: np.ndarray, limit: int = MAX_CHART_CLASSES) -> list[int]:
    """The classes a many-class confusion chart shows: the `limit - 1` involved in most mistakes, in class order."""
    counts = np.asarray(matrix)
    mistakes = counts.sum(axis=0) + counts.sum(axis=1) - 2 * counts.diagonal()  # as the true or the predicted class
    return sorted(int(index) for index in np.argsort(-mistakes, kind="stable")[: limit - 1])


def grouped_matrix(matrix: np.ndarray, keep: list[int]) -> np.ndarray:
    """`matrix` restricted to the classes `keep`, plus one last row and column that sum all the others."""
    counts = np.asarray(matrix)
    groups = np.full(len(counts), len(keep))  # every class not kept goes to the last group
    groups[keep] = np.arange(len(keep))
    grouped = np.zeros((len(keep) + 1, len(keep) + 1), dtype=counts.dtype)
    np.add.at(grouped, (groups[:, None], groups[None, :]), counts)
    return grouped


def confusion_cell(point: dict[str, Any], class_names: list[str], *, language: str = "en") -> tuple[str, str] | None:
    """(true, predicted) class names of a clicked `confusion_figure` marker, or None for anything else."""
    by_label = {_class_text(language, name): name for name in class_names}
    true_name, predicted_name = by_label.get(point.get("y")), by_label.get(point.get("x"))
    return (true_name, predicted_name) if true_name and predicted_name else None


def planned_epochs(status: dict[str, Any], events: list[dict[str, Any]]) -> int:
    """How many epochs this run trains: the latest time-budget re-plan, else the start event, else the status."""
    for event in reversed(events):
        if event["type"] in ("replan", "start") and event.get("epochs"):
            return int(event["epochs"])
    return int(status.get("epochs") or 1)


PHASES = ("loading", "calibrating", "training", "evaluating", "saving")  # a run's stages, in order
_PHASE_OF_EVENT = {"loading": "loading", "calibrating": "calibrating", "start": "training", "batch": "training",
                   "epoch": "training", "replan": "training", "stopped": "training", "evaluating": "evaluating",
                   "saving": "saving"}


OVER_BUDGET_SHARE = 1.1  # expected/budget past which a run warns that it will overrun


def run_phase(events: list[dict[str, Any]]) -> str:
    """Which of PHASES a run is in, from its newest event that says ("loading" before any)."""
    for event in reversed(events):
        if event.get("type") in _PHASE_OF_EVENT:
            return _PHASE_OF_EVENT[event["type"]]
    return "loading"


def start_fields(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's start event (its plan, data and settings as trained); {} until the run has written it."""
    return next((event for event in events if event.get("type") == "start"), {})


def widening(start: dict[str, Any]) -> dict[str, str] | None:
    """A long run's wider network as text, {"filters", "asked", "weight_decay"} (cnn_core.training.job.long_run), from
    its start event; None when it trains the network asked for."""
    if not start.get("widened_from"):
        return None
    return {"filters": "-".join(map(str, start["filters"])), "asked": "-".join(map(str, start["widened_from"])),
            "weight_decay": f"{start['weight_decay']:g}"}


def over_budget(events: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(expected seconds, budget or ceiling) when a run's calibration expects clearly more than its time budget or
    the server's ceiling (not even one epoch fits on this machine); None otherwise."""
    start = start_fields(events)
    limit = start.get("time_budget_seconds") or start.get("max_seconds")
    if not start or not limit or not start.get("expected_seconds"):
        return None
    expected = float(start["expected_seconds"])
    return (expected, float(limit)) if expected > OVER_BUDGET_SHARE * float(limit) else None


def shortened(events: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """(epochs planned, epochs asked for, the server's ceiling in seconds) when the ceiling planned a run shorter
    than it asked; None when it trains every epoch it asked for (or fills a time budget). A run that proved faster
    than its first plan re-plans (`replan` events) back towards what it asked for: the latest plan counts."""
    start = start_fields(events)
    if not start.get("max_seconds") or start.get("time_budget_seconds") or not start.get("asked_epochs"):
        return None
    replans = [event["epochs"] for event in events if event.get("type") == "replan"]
    planned, asked = int(replans[-1] if replans else start["epochs"]), int(start["asked_epochs"])
    return (planned, asked, float(start["max_seconds"])) if planned < asked else None


def progress_numbers(status: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Live numbers: epoch (as numbered in the events), last epoch, fraction done, images/s, elapsed, ETA (s).

    A resumed run numbers its epochs on from the model it continues (`initial_epoch` in the start event);
    a time-budgeted run may re-plan its epoch count while it trains (`replan` events).
    """
    start = start_fields(events)
    first = int(start.get("initial_epoch") or 0)
    epochs = max(planned_epochs(status, events), 1)
    steps_per_epoch = max(int(start.get("steps_per_epoch") or 1), 1)
    latest, fraction = _latest_progress(events, first, epochs, steps_per_epoch)
    elapsed = float(latest["elapsed"]) if latest else 0.0
    eta = latest.get("eta") if latest and latest["type"] == "epoch" else None
    if eta is None and 0 < fraction < 1:
        eta = elapsed * (1 - fraction) / fraction  # straight-line guess until the next epoch event
    return {
        "epoch": int(latest["epoch"]) if latest else first, "first_epoch": first + 1, "last_epoch": first + epochs,
        "steps_per_epoch": steps_per_epoch, "fraction": min(max(fraction, 0.0), 1.0),
        "images_per_second": float(latest.get("images_per_second") or 0.0) if latest else 0.0,
        "elapsed": elapsed, "eta": eta,
    }


def _latest_progress(events: list[dict[str, Any]], first: int, epochs: int, steps_per_epoch: int):
    """(the newest epoch or batch event, fraction of the run done): a batch inside an unfinished epoch counts."""
    last_batch = next((event for event in reversed(events) if event["type"] == "batch"), None)
    last_epoch = next((event for event in reversed(events) if event["type"] == "epoch"), None)
    done_epochs = last_epoch["epoch"] - first if last_epoch else 0
    if last_batch and last_batch["epoch"] - first > done_epochs:  # inside an epoch that has not ended yet
        return last_batch, (last_batch["epoch"] - first - 1 + min(last_batch["step"] / steps_per_epoch, 1)) / epochs
    return last_epoch, done_epochs / epochs


def format_seconds(seconds: float | None, *, language: str = "en") -> str:
    """'1 h 02 min', '3 min 05 s', '42 s', or '–' when unknown (in `language`)."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return _word(language, "duration.hours", hours=hours, minutes=minutes)
    if minutes:
        return _word(language, "duration.minutes", minutes=minutes, seconds=seconds)
    return _word(language, "duration.seconds", seconds=seconds)

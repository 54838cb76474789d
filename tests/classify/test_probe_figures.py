"""The probes' charts: colour-blind safe scales, a legend on every heat map, and tables that hold the chart's numbers."""

from __future__ import annotations

import numpy as np

from cnn_core.classify import probe_figures as figures
from cnn_core.training import figures as training_figures


def test_occlusion_chart_uses_cividis_with_a_legend_and_its_table_lists_the_worst_patches():
    drops = np.array([[0.1, 0.5], [0.0, 0.3]])
    figure = figures.occlusion_figure(drops, [0, 4], [0, 4], language="zh")
    heatmap = figure.data[0]
    assert heatmap.colorscale[0][1] == "#00224e" and heatmap.colorbar.title.text == "下降"  # Cividis, legend titled
    table = figures.occlusion_table(drops, [0, 4], [0, 4], shown=3)
    assert [(row["Patch top"], row["Patch left"], row["Probability drop"]) for row in table] == [
        (0, 4, 0.5), (4, 4, 0.3), (0, 0, 0.1)]
    colours = figures.drop_colours(np.array([[0.0, 0.5]]))
    assert colours[0, 0].tolist() == [0, 34, 78] and colours[0, 1].tolist() == [254, 232, 56]  # Cividis ends: the peak is brightest


def test_curve_table_holds_exactly_what_the_lines_draw():
    levels = np.linspace(-1, 1, 5)
    probabilities = np.random.default_rng(0).dirichlet(np.ones(4), size=5)
    figure = figures.curve_figure(levels, probabilities, [2, 0], ["cat", "dog"], "brightness", 0.0)
    table = figures.curve_table(levels, probabilities, [2, 0], ["cat", "dog"], "brightness")
    assert list(table) == ["Brightness added (/255)", "cat", "dog"]
    for trace, label in zip(figure.data, ["cat", "dog"]):
        np.testing.assert_allclose(trace.y, table[label], atol=1e-4)
    colours = [trace.line.color for trace in figure.data]
    assert colours == figures.OKABE_ITO[:2] and figure.data[0].line.dash != figure.data[1].line.dash


def test_epoch_table_is_the_epoch_charts_numbers():
    events = [{"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.1, "val_accuracy": 0.25},
              {"epoch": 2, "loss": 1.5, "accuracy": 0.45}]
    table = training_figures.epoch_table(events)
    assert table["epoch"] == [1, 2] and table["loss (training)"] == [2.0, 1.5]
    assert table["accuracy (validation)"] == [0.25, None]
    figure = training_figures.epoch_figure(events)
    drawn = {(trace.name, tuple(trace.y)) for trace in figure.data}
    assert ("training", (2.0, 1.5)) in drawn and ("validation", (0.25, None)) in drawn

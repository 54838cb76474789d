"""Figures and live numbers of the training page, checked against pandas and hand-made events."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core import training_figures as figures


def batch_events(epochs: int, steps: int) -> list[dict]:
    return [{"type": "batch", "epoch": epoch, "step": step, "loss": 1.0 / step, "accuracy": 0.5,
             "images_per_second": 100.0, "elapsed": float(epoch * steps + step)}
            for epoch in range(1, epochs + 1) for step in range(1, steps + 1)]


def test_batch_figure_thins_long_runs_and_keeps_the_last_point():
    events = batch_events(epochs=4, steps=1000)
    figure = figures.batch_figure(events, steps_per_epoch=1000)
    loss = figure.data[0]
    assert len(loss.x) <= figures.MAX_POINTS + 1
    assert loss.x[0] == pytest.approx(0.001) and loss.x[-1] == pytest.approx(4.0)
    assert loss.y[-1] == pytest.approx(1.0 / 1000)
    # Thinning keeps real points: every shown (x, y) pair is one of the events.
    for x, y in zip(loss.x, loss.y):
        assert y == pytest.approx(1.0 / round((x % 1 or 1) * 1000))


def test_confusion_figure_cells_carry_their_counts_for_selection():
    matrix = np.arange(9).reshape(3, 3)
    figure = figures.confusion_figure(matrix, ["a", "b", "c"])
    heatmap, cells = figure.data
    np.testing.assert_array_equal(heatmap.z, matrix)
    # The clickable marker at (predicted "c", true "b") holds matrix[1][2].
    index = next(i for i, (x, y) in enumerate(zip(cells.x, cells.y)) if (x, y) == ("c", "b"))
    assert cells.customdata[index] == matrix[1][2] == 5


def test_progress_numbers_inside_and_after_an_epoch():
    start = {"type": "start", "epochs": 4, "steps_per_epoch": 100}
    epoch_1 = {"type": "epoch", "epoch": 1, "images_per_second": 500.0, "elapsed": 20.0, "eta": 60.0}
    batch = {"type": "batch", "epoch": 2, "step": 50, "images_per_second": 640.0, "elapsed": 30.0}
    numbers = figures.progress_numbers({"state": "running"}, [start, epoch_1, batch])
    assert numbers["epoch"] == 2 and numbers["last_epoch"] == 4 and numbers["fraction"] == pytest.approx(1.5 / 4)
    assert numbers["images_per_second"] == 640.0
    assert numbers["eta"] == pytest.approx(30.0 * (1 - 0.375) / 0.375)  # straight line until the next epoch
    numbers = figures.progress_numbers({"state": "running"}, [start, epoch_1])
    assert numbers["fraction"] == 0.25 and numbers["eta"] == 60.0  # the trainer's own estimate
    assert figures.progress_numbers({"state": "starting", "epochs": 3}, [])["fraction"] == 0.0


def test_progress_numbers_of_a_resumed_run_count_from_its_first_new_epoch():
    start = {"type": "start", "epochs": 2, "initial_epoch": 10, "steps_per_epoch": 100}
    batch = {"type": "batch", "epoch": 12, "step": 25, "images_per_second": 640.0, "elapsed": 30.0}
    epoch_11 = {"type": "epoch", "epoch": 11, "images_per_second": 500.0, "elapsed": 20.0, "eta": 20.0}
    numbers = figures.progress_numbers({"state": "running"}, [start, epoch_11, batch])
    assert (numbers["epoch"], numbers["last_epoch"]) == (12, 12)
    assert numbers["fraction"] == pytest.approx(1.25 / 2)


def test_per_class_figure_marks_classes_without_test_images():
    bars = figures.per_class_figure({"cat": 0.5, "dog": None}).data[0]
    assert list(bars.x) == ["cat", "dog"] and list(bars.y) == [0.5, 0] and list(bars.text) == ["50%", "–"]


@pytest.mark.parametrize("seconds, text", [(None, "–"), (42.4, "42 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")])
def test_format_seconds(seconds, text):
    assert figures.format_seconds(seconds) == text


def test_schedule_figure_follows_learning_rate_at():
    from cnn_core.config import TrainConfig
    from cnn_core.model import learning_rate_at

    config = TrainConfig(schedule="cosine", warmup_fraction=0.1, learning_rate=0.01, epochs=3)
    line = figures.schedule_figure(config, steps_per_epoch=10).data[0]
    assert line.x[-1] == pytest.approx(3.0)
    for epoch, rate in zip(line.x, line.y):
        assert rate == pytest.approx(learning_rate_at(config, int(round(epoch * 10)), 30))
    assert max(line.y) == pytest.approx(0.01)


def test_live_charts_span_the_whole_run():
    events = batch_events(epochs=1, steps=10)
    batch = figures.batch_figure(events, steps_per_epoch=10, epoch_range=(1, 5))
    assert list(batch.layout.xaxis.range) == [0, 5] and list(batch.layout.xaxis2.range) == [0, 5]
    epoch = figures.epoch_figure([{"epoch": 11, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4}],
                                 epoch_range=(11, 12))
    assert list(epoch.layout.xaxis.range) == [10.5, 12.5]

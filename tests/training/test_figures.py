"""Figures and live numbers of the training page, checked against pandas and hand-made events."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.training import figures


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
    from cnn_core.training.config import TrainConfig
    from cnn_core.training.schedules import learning_rate_at

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
    assert list(epoch.layout.xaxis.range) == [10.5, 12.5] and epoch.layout.xaxis.dtick == 1
    # A run stopped early keeps its planned span; 40 epochs of whole-number ticks would crowd the axis.
    stopped = figures.epoch_figure([{"epoch": 1, "loss": 1.0, "accuracy": 0.5}], epoch_range=(1, 40))
    assert stopped.layout.xaxis.dtick is None


# --- Time-budgeted runs re-plan their epochs (cnn_core.training.job emits {"type": "replan", "epochs", "elapsed"}). ---


def test_progress_numbers_follow_the_latest_replan():
    start = {"type": "start", "epochs": 10, "steps_per_epoch": 100}
    epoch_3 = {"type": "epoch", "epoch": 3, "images_per_second": 500.0, "elapsed": 30.0, "eta": 30.0}
    events = [start, {"type": "epoch", "epoch": 1, "elapsed": 10.0}, {"type": "replan", "epochs": 8, "elapsed": 10.1},
              {"type": "epoch", "epoch": 2, "elapsed": 20.0}, {"type": "replan", "epochs": 6, "elapsed": 20.1}, epoch_3]
    numbers = figures.progress_numbers({"state": "running", "epochs": 6}, events)
    assert (numbers["last_epoch"], numbers["fraction"]) == (6, 0.5)  # 3 of the 6 re-planned epochs, not 3 of 10
    assert figures.planned_epochs({}, events[:3]) == 8 and figures.planned_epochs({}, events[:2]) == 10
    # Before the first event the status' count is all there is.
    assert figures.progress_numbers({"state": "starting", "epochs": 7}, [])["last_epoch"] == 7


def test_a_resumed_budgeted_run_counts_its_replan_from_its_first_new_epoch():
    start = {"type": "start", "epochs": 4, "initial_epoch": 10, "steps_per_epoch": 100}
    replan = {"type": "replan", "epochs": 2, "elapsed": 5.0}
    batch = {"type": "batch", "epoch": 12, "step": 50, "images_per_second": 640.0, "elapsed": 30.0}
    epoch_11 = {"type": "epoch", "epoch": 11, "images_per_second": 500.0, "elapsed": 20.0, "eta": 20.0}
    numbers = figures.progress_numbers({"state": "running"}, [start, epoch_11, replan, batch])
    assert (numbers["first_epoch"], numbers["last_epoch"]) == (11, 12)
    assert numbers["fraction"] == pytest.approx(1.5 / 2)
    assert numbers["eta"] == pytest.approx(30.0 * 0.25 / 0.75)


# --- Words on the charts come from the tables, class names too. ---


def subplot_titles(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_charts_speak_chinese():
    events = batch_events(epochs=1, steps=4)
    assert subplot_titles(figures.batch_figure(events, 4, language="zh")) == ["每批的损失", "每批的准确率"]
    epoch = figures.epoch_figure([{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4}],
                                 language="zh")
    assert subplot_titles(epoch) == ["每轮的损失", "每轮的准确率"]
    assert [trace.name for trace in epoch.data if trace.showlegend] == ["训练集", "验证集"]
    assert epoch.layout.xaxis.title.text == "轮次（epoch）"
    assert subplot_titles(figures.batch_figure(events, 4)) == ["Loss per batch", "Accuracy per batch"]


def test_class_charts_translate_cifar_names_and_keep_a_users_own():
    bars = figures.per_class_figure({"cat": 0.5, "my_teapots": 0.25}, language="zh")
    assert list(bars.data[0].x) == ["猫", "my_teapots"] and bars.layout.title.text == "各类别的测试准确率"
    names = ["airplane", "cat", "dog"]
    confusion = figures.confusion_figure(np.eye(3, dtype=int), names, language="zh")
    heatmap, cells = confusion.data
    assert list(heatmap.x) == ["飞机", "猫", "狗"] and confusion.layout.xaxis.title.text == "预测类别"
    assert "真实：%{y}" in cells.hovertemplate
    # A click reports the shown label; it maps back to the class names the results use.
    assert figures.confusion_cell({"x": "狗", "y": "猫"}, names, language="zh") == ("cat", "dog")
    assert figures.confusion_cell({"x": "dog", "y": "猫"}, names, language="zh") is None
    assert figures.confusion_cell({"x": "dog", "y": "cat"}, names) == ("cat", "dog")


@pytest.mark.parametrize("seconds, text", [(42.4, "42 秒"), (185, "3 分 05 秒"), (3720, "1 小时 02 分")])
def test_format_seconds_in_chinese(seconds, text):
    assert figures.format_seconds(seconds, language="zh") == text


def test_schedule_figure_labels():
    from cnn_core.training.config import TrainConfig

    figure = figures.schedule_figure(TrainConfig(epochs=1), steps_per_epoch=2, language="zh")
    assert (figure.layout.title.text, figure.layout.yaxis.title.text) == ("整个训练过程中的学习率", "学习率")


def test_over_budget_needs_a_budget_and_an_estimate_past_it_by_a_tenth():
    start = {"type": "start", "epochs": 1, "time_budget_seconds": 30.0, "expected_seconds": 33.5}
    assert figures.over_budget([{"type": "loading"}, start]) == (33.5, 30.0)
    assert figures.over_budget([{**start, "expected_seconds": 32.9}]) is None  # within 10 %
    assert figures.over_budget([{**start, "time_budget_seconds": 0}]) is None  # no budget: epochs decide
    assert figures.over_budget([{**start, "expected_seconds": None}]) is None  # resumed runs are not re-planned
    assert figures.over_budget([{"type": "loading"}]) is None


def test_a_run_cut_to_the_ceiling_says_so_until_it_re_plans_back_to_what_it_asked_for():
    start = {"type": "start", "epochs": 906, "asked_epochs": 1000, "max_seconds": 300.0, "time_budget_seconds": 0}
    assert figures.shortened([{"type": "loading"}, start]) == (906, 1000, 300.0)
    assert figures.shortened([start, {"type": "replan", "epochs": 950}]) == (950, 1000, 300.0)
    assert figures.shortened([start, {"type": "replan", "epochs": 950}, {"type": "replan", "epochs": 1000}]) is None
    assert figures.shortened([{**start, "epochs": 1000}]) is None  # every epoch it asked for fits
    assert figures.shortened([{**start, "time_budget_seconds": 60.0}]) is None  # a budget is filled, not a ceiling


def test_run_phase_follows_the_newest_event_that_names_one():
    assert figures.run_phase([]) == "loading"
    events = [{"type": "loading"}, {"type": "loading", "images_done": 5, "images_total": 9}]
    assert figures.run_phase(events) == "loading"
    events += [{"type": "calibrating"}]
    assert figures.run_phase(events) == "calibrating"
    events += [{"type": "start"}, {"type": "batch"}, {"type": "epoch"}, {"type": "unreadable"}]
    assert figures.run_phase(events) == "training"  # a torn line does not change the phase
    assert figures.run_phase(events + [{"type": "evaluating"}]) == "evaluating"
    assert figures.run_phase(events + [{"type": "evaluating"}, {"type": "saving"}]) == "saving"
    assert figures.PHASES.index("saving") == len(figures.PHASES) - 1
# --- Many classes (issue 14): charts stay readable and light. ---


def test_a_thousand_class_confusion_chart_groups_all_but_the_most_confused():
    import plotly.io

    from cnn_core.training.figures import MAX_CHART_CLASSES, chart_classes, confusion_figure, grouped_matrix

    rng = np.random.default_rng(0)
    count = 1000
    matrix = np.diag(rng.integers(5, 10, count))
    worst = [3, 500, 999]
    for index in worst:  # these three are confused with their neighbour many times
        matrix[index, (index + 1) % count] += 50
    keep = chart_classes(matrix)
    assert len(keep) == MAX_CHART_CLASSES - 1 and set(worst) <= set(keep) and keep == sorted(keep)
    grouped = grouped_matrix(matrix, keep)
    # Reference: a direct loop over every cell.
    expected = np.zeros_like(grouped)
    for true in range(count):
        for predicted in range(count):
            row = keep.index(true) if true in keep else len(keep)
            column = keep.index(predicted) if predicted in keep else len(keep)
            expected[row, column] += matrix[true, predicted]
    assert np.array_equal(grouped, expected) and grouped.sum() == matrix.sum()
    names = [f"class {index}" for index in range(count)]
    figure = confusion_figure(matrix.tolist(), names)
    assert len(figure.data[0].x) == MAX_CHART_CLASSES and figure.data[0].x[-1] == "981 other classes"
    assert len(plotly.io.to_json(figure)) < 100_000  # was 30 MB


def test_a_thousand_class_accuracy_chart_shows_the_lowest():
    from cnn_core.training.figures import MAX_CHART_CLASSES, per_class_figure

    accuracies = {f"c{index}": (index % 97) / 97 for index in range(1000)}
    accuracies["c5"] = None  # no test images: shown first, as the least known
    figure = per_class_figure(accuracies)
    shown = list(figure.data[0].x)
    lowest = sorted((value, name) for name, value in accuracies.items() if value is not None)
    assert len(shown) == MAX_CHART_CLASSES and shown[0] == "c5"
    assert {accuracies[name] for name in shown[1:]} <= {value for value, _ in lowest[:MAX_CHART_CLASSES + 10]}
    assert "lowest of 1000" in figure.layout.title.text


def test_class_names_on_charts_are_escaped():
    from cnn_core.training.figures import confusion_cell, confusion_figure, per_class_figure

    names = ['<a href="http://evil.example">x</a>', "$\\Huge y$"]
    figure = confusion_figure([[1, 0], [0, 1]], names)
    labels = list(figure.data[0].x)
    assert all("<" not in label and "$" not in label for label in labels)
    assert confusion_cell({"x": labels[0], "y": labels[1]}, names) == (names[1], names[0])
    assert "<" not in "".join(per_class_figure(dict(zip(names, [0.5, 0.5]))).data[0].x)

"""cnn_core.training.compare: disagreements against a direct loop, per-class rows, one colour per run."""

from __future__ import annotations

import numpy as np

from cnn_core.training import compare


def test_disagreements_match_a_direct_loop():
    rng = np.random.default_rng(0)
    labels, first, second = (rng.integers(0, 4, 300) for _ in range(3))
    one_right, two_right = compare.disagreements(labels, first, second)
    expected_one = [i for i in range(300) if first[i] == labels[i] and second[i] != labels[i]]
    expected_two = [i for i in range(300) if second[i] == labels[i] and first[i] != labels[i]]
    assert one_right.tolist() == expected_one and two_right.tolist() == expected_two
    assert set(expected_one).isdisjoint(expected_two)


def test_per_class_rows_put_each_runs_accuracy_side_by_side():
    rows = compare.per_class_rows({"a": {"per_class_accuracy": {"cat": 0.5, "dog": 1.0}},
                                   "b": {"per_class_accuracy": {"dog": 0.25, "bird": 0.0}}})
    assert rows == [{"class": "cat", "a": 0.5, "b": None}, {"class": "dog", "a": 1.0, "b": 0.25},
                    {"class": "bird", "a": None, "b": 0.0}]


def test_overlay_draws_each_run_in_its_own_colour_in_both_panels():
    epochs = [{"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.1, "val_accuracy": 0.28},
              {"epoch": 2, "loss": 1.5, "accuracy": 0.5, "val_loss": 1.7, "val_accuracy": 0.41}]
    figure = compare.overlay_figure({f"run{index}": epochs for index in range(10)}, language="zh")
    solid = [trace for trace in figure.data if trace.mode == "lines+markers"]
    assert len(solid) == 20 and len(figure.data) == 40  # validation and training lines, two panels, ten runs
    colours = [trace.line.color for trace in solid[::2]]
    assert colours[:8] == list(compare.RUN_COLOURS) and len(set(colours[:8])) == 8
    assert [trace.line.dash for trace in solid[16::2]] == ["dash", "dash"]  # runs 9 and 10 reuse colours, dashed
    assert list(solid[1].y) == [0.28, 0.41] and figure.layout.annotations[0].text == "每轮的损失"


def test_mixed_rows_become_text_a_table_column_can_hold():
    rows = compare.as_text([{"": "test accuracy", "a": 0.7712, "b": None}, {"": "seconds", "a": 160.4, "b": 12.0},
                            {"": "Epochs", "a": "10", "b": "3"}])
    assert rows == [{"": "test accuracy", "a": "77.1%", "b": "–"}, {"": "seconds", "a": "160.4", "b": "12"},
                    {"": "Epochs", "a": "10", "b": "3"}]

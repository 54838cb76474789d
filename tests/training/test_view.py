"""The settings form's translation to and from TrainConfig, model comparison and stored uploads."""

from __future__ import annotations

import pytest

from cnn_core.training import view
from cnn_core.training.config import PRESETS, ConfigError, TrainConfig


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_survive_the_form(name):
    assert view.config_from_form(view.form_values(PRESETS[name])) == PRESETS[name]


def test_augmentation_switches_show_seed_values_and_turn_settings_off():
    values = view.form_values(TrainConfig())
    assert (values["rotation_on"], values["rotation_degrees"]) == (False, 15.0)
    assert (values["shift_on"], values["shift_fraction"]) == (False, 0.1)
    assert view.config_from_form(values).rotation_degrees == 0.0
    values["rotation_on"] = True
    assert view.config_from_form(values).rotation_degrees == 15.0


@pytest.mark.parametrize("text, widths", [("32, 64", [32, 64]), (" 8 ", [8]), ("", []), ("16,32,", [16, 32])])
def test_parse_widths(text, widths):
    assert view.parse_widths(text, "Filters") == widths


@pytest.mark.parametrize("text", ["32 64", "32, -1", "a", "3.5", ",,"])
def test_parse_widths_rejects_other_text(text):
    with pytest.raises(ConfigError, match="Filters: write whole numbers"):
        view.parse_widths(text, "Filters")


def test_impossible_form_raises_config_error():
    values = view.form_values(TrainConfig())
    values["filters"] = "32, 64, 64, 64, 64"
    with pytest.raises(ConfigError, match="no longer fits"):
        view.config_from_form(values)


def test_compare_models_lists_only_differing_settings():
    models = [
        {"name": "a", "test_accuracy": 0.6, "training_seconds": 10, "config": TrainConfig().to_dict()},
        {"name": "b", "test_accuracy": 0.7, "training_seconds": 20,
         "config": TrainConfig(epochs=3, flip=True).to_dict()},
    ]
    rows = view.compare_models(models)
    assert [row[""] for row in rows] == ["test accuracy", "training seconds", "Epochs", "Horizontal flip"]
    assert rows[2] == {"": "Epochs", "a": "10", "b": "3"}


def test_parse_widths_names_the_setting_in_the_pages_language():
    with pytest.raises(ConfigError, match="Filters per block: write whole numbers") as caught:
        view.config_from_form({**view.form_values(TrainConfig()), "filters": "32 64"})
    assert caught.value.text("zh").startswith("每个卷积块的卷积核数量：请填写用逗号分隔的整数")


def test_compare_models_in_chinese_names_rows_like_the_form():
    models = [{"name": "a", "config": TrainConfig().to_dict()}, {"name": "b", "config": TrainConfig(flip=True).to_dict()}]
    assert [row[""] for row in view.compare_models(models, "zh")] == ["测试准确率", "训练时间（秒）", "水平翻转"]


# --- The numbers in the lessons, against Keras (an independent reference). ---


@pytest.fixture(scope="module")
def seed_rows():
    from cnn_core.training.model import layer_table

    return layer_table(TrainConfig(dense_units=[16], dropout_rate=0.5))


def test_dense_layers_are_y_equals_wx_plus_b_with_kerass_parameter_counts(seed_rows):
    layers = view.dense_layers(seed_rows)
    # 32x32 -> conv 3x3 valid 30 -> pool 15 -> conv 13 -> pool 6: 6*6*64 = 2304 flattened inputs.
    assert [(layer["layer"], layer["inputs"], layer["units"]) for layer in layers] == [
        ("dense1", 2304, 16), ("predictions", 16, 10)]
    for layer in layers:  # W: units x inputs, b: units
        assert layer["params"] == layer["inputs"] * layer["units"] + layer["units"]


def test_spatial_sizes_trace_the_shapes_through_the_network(seed_rows):
    assert [shape for _, shape in view.spatial_sizes(seed_rows)] == [
        (32, 32, 3), (30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (2304,), (16,), (10,)]


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras(kernel_size, padding):
    import keras

    layer = keras.layers.Conv2D(4, kernel_size, padding=padding)
    expected = layer.compute_output_shape((1, 32, 32, 3))[1]
    assert view.conv_output_size(32, kernel_size, padding)[1] == expected


@pytest.mark.parametrize("epsilon, classes", [(0.0, 10), (0.1, 10), (0.3, 2)])
def test_loss_landmarks_match_kerass_smoothed_crossentropy(epsilon, classes):
    import keras
    import numpy as np

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=epsilon)
    one_hot = np.eye(classes, dtype="float32")[:1]
    true, other = view.smoothed_targets(epsilon, classes)
    assert true + (classes - 1) * other == pytest.approx(1.0)
    uniform = np.full((1, classes), 1 / classes, dtype="float32")
    assert float(loss(one_hot, uniform)) == pytest.approx(view.uniform_guess_loss(classes), rel=1e-5)
    # The best possible prediction is the smoothed target itself; its loss is the floor.
    best = np.array([[true] + [other] * (classes - 1)], dtype="float32").clip(1e-7)
    assert float(loss(one_hot, best)) == pytest.approx(view.smoothed_loss_floor(epsilon, classes), abs=1e-5)


def test_steps_per_epoch_counts_the_last_partial_batch():
    assert view.steps_per_epoch(5085, 64) == 80 and view.steps_per_epoch(128, 64) == 2 and view.steps_per_epoch(0, 8) == 1


@pytest.mark.parametrize("iso_time, shown", [
    ("2026-11-25T06:22:38+00:00", "2026-11-25 06:22 UTC"), ("2026-01-01T10:00:00", "2026-01-01 10:00"),
    (None, ""), ("not a time", "not a time"),
])
def test_short_time(iso_time, shown):
    assert view.short_time(iso_time) == shown


def test_compare_models_shows_corruption_accuracy_only_where_recorded():
    plain = {"name": "a", "test_accuracy": 0.6, "config": TrainConfig().to_dict()}
    robust = {"name": "b", "test_accuracy": 0.7, "config": TrainConfig().to_dict(),
              "robustness": {"clean": 0.7, "noise_8": 0.5, "mean": 0.55}}
    assert [row[""] for row in view.compare_models([plain, {**robust, "name": "c", "robustness": None}])] == [
        "test accuracy", "training seconds"]
    rows = view.compare_models([plain, robust])
    assert rows[1] == {"": "corruption accuracy (mean of five corruptions)", "a": None, "b": 0.55}
    assert view.compare_models([plain, robust], "zh")[1][""] == "损坏准确率（五种损坏的平均）"


def test_corruption_accuracy_reads_the_recorded_mean_and_nothing_else():
    assert view.recorded_corruption_mean({"robustness": {"mean": 0.61}}) == 0.61
    for broken in ({}, {"robustness": None}, {"robustness": "0.6"}, {"robustness": {"mean": True}},
                   {"robustness": {"mean": float("nan")}}, {"robustness": {"noise_8": 0.5}}):
        assert view.recorded_corruption_mean(broken) is None


def test_every_setting_has_a_label_in_both_languages():
    for language in ("en", "zh"):
        missing = [name for name in TrainConfig().to_dict() if view.setting_label(name, language) == name]
        assert missing == [], language


def test_tables_print_accuracy_in_percent_points_with_one_decimal():
    assert [view.percent(share) for share in (0.831041257367387, 0.7886051080550097, 0.83, 1, None)] == \
        [83.1, 78.9, 83.0, 100.0, None]
    assert view.PERCENT_FORMAT % 83.0 == "83.0 %"  # printf, as Streamlit's NumberColumn reads it

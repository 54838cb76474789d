"""TrainConfig against impossible and hostile settings: every one is a ConfigError with a short message.

Settings arrive from three untrusted places: uploaded JSON, a shared link's query string, and the form.
Whatever they hold, the answer is a validated config or a ConfigError, and a config that validates can
be built by Keras with exactly the weights `parameter_count` promises.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_core.training.config import (
    ACTIVATIONS,
    HEADS,
    MAX_BATCH_ACTIVATION_BYTES,
    MAX_PARAMETERS,
    OPTIMIZERS,
    POOL_POSITIONS,
    POOLINGS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    activation_count,
)
from cnn_core.training.layers import parameter_count

MESSAGE_LIMIT = 400  # characters: a message quotes what was wrong, never megabytes of it


def refused(values=None, *, text=None, params=None) -> str:
    """The ConfigError message for settings given as a dict, JSON text or query parameters."""
    with pytest.raises(ConfigError) as caught:
        if text is not None:
            TrainConfig.from_json(text)
        elif params is not None:
            TrainConfig.from_query_params(params)
        else:
            TrainConfig.from_dict(values)
    message = str(caught.value)
    assert 10 < len(message) <= MESSAGE_LIMIT, message
    return message


@pytest.mark.parametrize(
    "values, words",
    [
        ({"filters": []}, "at least one"),
        ({"filters": [0]}, "between 1 and 2048"),
        ({"filters": [-8]}, "between 1 and 2048"),
        ({"filters": [10**9]}, "between 1 and 2048"),
        ({"filters": [8] * 9}, "At most 8"),
        ({"dense_units": [8] * 9}, "dense layers"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": -5}, "epochs"),
        ({"epochs": 10**12}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"noise_std": 65.0}, "noise_std"),
        ({"noise_std": float("nan")}, "noise_std"),
        ({"whitening_max_gain": 0.5}, "whitening_max_gain"),
        ({"whitening_max_gain": -3.0}, "whitening_max_gain"),
        ({"whitening_max_gain": float("inf")}, "whitening_max_gain"),
        ({"time_budget_seconds": -1.0}, "time_budget"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": 7, "filters": [8, 8, 8]}, "no longer fits"),
        ({"filters": [8] * 6, "padding": "same"}, "too small"),
        ({"pool_size": 1}, "pool_size"),
        ({"optimizer": "keras.optimizers.Adam"}, "optimizer"),
        ({"activation": "lambda x: __import__('os').system('id')"}, "activation"),
        ({"padding": "causal"}, "padding"),
        ({"filters": "32,64"}, "filters"),
        ({"filters": [[32]]}, "filters"),
        ({"filters": [32.5]}, "filters"),
        ({"epochs": True}, "epochs"),
        ({"epochs": "ten"}, "epochs"),
        ({"flip": "maybe"}, "flip"),
        ({"batch_norm": None}, "batch_norm"),
        ({"module": "os", "class_name": "Lambda"}, "Unknown setting"),
        ({"enable_unsafe_deserialization": True}, "Unknown setting"),
        (["filters", 8], "JSON object"),
    ],
)
def test_impossible_values_are_refused_with_the_setting_named(values, words):
    assert words in refused(values)


def test_networks_too_big_for_a_shared_server_are_refused_before_keras_sees_them():
    # 24 billion weights: building it for the layer table would take ~100 GB of the web server's memory.
    huge = {"filters": [2048] * 8, "convs_per_block": 6, "kernel_size": 11, "padding": "same", "pooling": "none"}
    assert "weights; the limit is" in refused(huge)
    assert "weights" in refused(params={key: json.dumps(value) if isinstance(value, list) else str(value)
                                        for key, value in huge.items()})  # the same as a shared link
    # Few weights but enormous batches of 32x32x512 maps: the training process would run out of memory.
    wide = {"filters": [512, 512], "convs_per_block": 2, "padding": "same", "batch_norm": True, "batch_size": 4096}
    assert "smaller batch size" in refused(wide)
    ordinary = TrainConfig.from_dict({**wide, "batch_size": 64})  # the same network in ordinary batches is fine
    assert ordinary.batch_size == 64 and ordinary.filters == [512, 512] and ordinary.convs_per_block == 2
    for name, config in PRESETS.items():  # what people actually train stays far below both limits
        assert parameter_count(config) < MAX_PARAMETERS / 10, name
        assert 4 * config.batch_size * activation_count(config) < MAX_BATCH_ACTIVATION_BYTES / 10, name


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100_000, "nested"),
        ('{"filters": [' + "1" * 5000 + "]}", "not valid JSON"),
        ("{'filters': [8]}", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        ('{"epochs": NaN}', "epochs"),
        ('{"learning_rate": Infinity}', "learning_rate"),
        ('{"optimizer": "' + "x" * 1_000_000 + '"}', "optimizer"),
        (json.dumps({f"key{i}": i for i in range(10_000)}), "Unknown setting"),
        ("null", "JSON object"),
    ],
)
def test_hostile_json_uploads_are_refused_with_short_messages(text, words):
    assert words in refused(text=text)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"filters": "[" * 10_000}, "filters"),
        ({"filters": "[" + "9" * 5000 + "]"}, "filters"),
        ({"epochs": "1e400"}, "epochs"),
        ({"epochs": "9" * 5000}, "epochs"),
        ({"seed": "-3"}, "seed"),
        ({"batch_size": "nan"}, "batch_size"),
    ],
)
def test_hostile_links_are_refused(params, words):
    assert words in refused(params=params)


def test_a_link_ignores_keys_that_are_not_settings():
    assert TrainConfig.from_query_params({"lang": "zh", "utm_source": "x", "epochs": "3"}).epochs == 3


# --- Any input at all: a valid config or a ConfigError (Hypothesis). ---

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
SETTING_NAMES = st.sampled_from(list(TrainConfig().to_dict()) + ["unknown", "module", "class_name"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(SETTING_NAMES, JSON_VALUES, max_size=8))
def test_any_settings_give_a_valid_config_or_a_config_error(values):
    try:
        config = TrainConfig.from_dict(values)
    except ConfigError as error:
        assert 0 < len(str(error)) <= MESSAGE_LIMIT
        return
    config.validate()
    assert TrainConfig.from_json(config.to_json()) == config  # and it survives the round trip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(SETTING_NAMES, st.text(max_size=30), max_size=8))
def test_any_link_gives_a_valid_config_or_a_config_error(params):
    try:
        config = TrainConfig.from_query_params(params)
    except ConfigError:
        return
    assert TrainConfig.from_query_params(config.to_query_params()) == config


# --- Whatever validates can be built, with exactly the promised weights. ---

SMALL_CONFIGS = st.builds(
    TrainConfig,
    filters=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    convs_per_block=st.integers(1, 3),
    whitening_patch=st.integers(0, 3),
    kernel_size=st.integers(1, 7),
    padding=st.sampled_from(["valid", "same"]),
    pooling=st.sampled_from(POOLINGS),
    pool_size=st.integers(2, 4),
    pool_position=st.sampled_from(POOL_POSITIONS),
    batch_norm=st.booleans(),
    activation=st.sampled_from(ACTIVATIONS),
    head=st.sampled_from(HEADS),
    dense_units=st.lists(st.integers(1, 6), max_size=2),
    dropout_rate=st.sampled_from([0.0, 0.5]),
    flip=st.booleans(),
    optimizer=st.sampled_from(OPTIMIZERS),
    schedule=st.sampled_from(SCHEDULES),
)


@pytest.fixture(scope="module")
def build_model():
    """cnn_core.training.model.build_model, imported outside Hypothesis (TensorFlow's import raises the recursion limit)."""
    from cnn_core.training.model import build_model

    return build_model


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=SMALL_CONFIGS, num_classes=st.integers(2, 12))
def test_every_config_that_validates_builds_and_every_other_is_refused(build_model, config, num_classes):
    try:
        config.validate()
    except ConfigError:
        with pytest.raises(ConfigError):
            build_model(config, num_classes)
        return
    model = build_model(config, num_classes)
    assert tuple(model.output.shape) == (None, num_classes)
    assert model.count_params() == parameter_count(config, num_classes)
    assert math.isfinite(activation_count(config)) and activation_count(config) > 0

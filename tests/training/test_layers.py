"""The training page's layer table from the settings alone, held to Keras' own: for the presets and 60 random
networks, every row (name, type, output shape, weights, FLOPs) equals the table read off the built Keras model."""

from __future__ import annotations

import random

import pytest

from cnn_core.training import layers
from cnn_core.training.config import PRESETS, ConfigError, TrainConfig
from cnn_core.training.model import build_model, layer_table


def random_config(rng: random.Random) -> TrainConfig:
    """A random network the validator accepts (the settings that change the layers, each drawn)."""
    while True:
        values = {
            "filters": [rng.choice([1, 3, 8, 16, 24]) for _ in range(rng.randint(1, 4))],
            "convs_per_block": rng.randint(1, 3), "kernel_size": rng.choice([1, 2, 3, 5]),
            "padding": rng.choice(["valid", "same"]), "pooling": rng.choice(["max", "avg", "none"]),
            "pool_size": rng.choice([2, 3]), "pool_position": rng.choice(["end", "after_first_conv"]),
            "batch_norm": rng.random() < 0.5, "head": rng.choice(["flatten", "global_avg"]),
            "dense_units": [rng.choice([4, 16]) for _ in range(rng.randint(0, 2))],
            "dropout_rate": rng.choice([0.0, 0.3]), "whitening_patch": rng.choice([0, 0, 2, 3]),
            "flip": rng.random() < 0.5, "rotation_degrees": rng.choice([0.0, 15.0]),
            "shift_fraction": rng.choice([0.0, 0.1]),
        }
        try:
            return TrainConfig.from_dict(values)
        except ConfigError:
            continue  # e.g. a kernel that no longer fits a pooled map: draw again


CONFIGS = [*PRESETS.values(), *(random_config(random.Random(seed)) for seed in range(60))]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda config: config.to_json().replace("\n", "")[:80])
def test_the_settings_alone_give_keras_own_layer_table(config):
    classes = 7
    assert layers.layer_rows(config, classes) == layer_table(config, classes)
    assert layers.parameter_count(config, classes) == build_model(config, classes).count_params()
    assert layers.weight_bytes(config, classes) == 4 * build_model(config, classes).count_params()

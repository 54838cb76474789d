"""The settings form's translation to and from TrainConfig, model comparison and stored uploads."""

from __future__ import annotations

import pytest

from cnn_core import training_view as view
from cnn_core.config import PRESETS, ConfigError, TrainConfig


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
    assert [row[""] for row in rows] == ["test accuracy", "training seconds", "epochs", "flip"]
    assert rows[2] == {"": "epochs", "a": "10", "b": "3"}


def test_store_upload_is_content_addressed_and_stays_in_data_dir(app_dirs):
    first = view.store_upload("../../evil name.zip", b"PK zip bytes")
    assert first.parent == app_dirs["data"] / "uploads" and first.name.endswith("-evil_name.zip")
    assert first.read_bytes() == b"PK zip bytes"
    assert view.store_upload("other.zip", b"PK zip bytes").read_bytes() == b"PK zip bytes"
    assert view.store_upload("../../evil name.zip", b"PK zip bytes") == first

"""Plain-data helpers behind the training page: the settings form, model comparison, uploads.

The page's widgets hold text and on/off switches where a `TrainConfig` holds lists and numbers
("32, 64" for `filters`; a "Rotation" switch plus its degrees for `rotation_degrees`). These functions
translate both ways, so the page stays widgets only and the translation is tested without Streamlit.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from cnn_core import paths
from cnn_core.config import ConfigError, TrainConfig

# The tutorial's augmentation, offered when a switch is turned on.
SEED_ROTATION_DEGREES = 15.0
SEED_SHIFT_FRACTION = 0.1
# Form entries that are not TrainConfig settings of the same name and type.
EXTRA_FORM_KEYS = ("rotation_on", "shift_on")
FORM_KEYS = tuple(TrainConfig().to_dict()) + EXTRA_FORM_KEYS


def form_values(config: TrainConfig) -> dict[str, Any]:
    """The form's values for `config`: lists as "32, 64", augmentations as switch + value."""
    values = config.to_dict()
    values["filters"] = ", ".join(map(str, config.filters))
    values["dense_units"] = ", ".join(map(str, config.dense_units))
    values["rotation_on"] = config.rotation_degrees > 0
    values["shift_on"] = config.shift_fraction > 0
    # Switched off, the value field still shows the seed's value, ready for when it is switched on.
    values["rotation_degrees"] = config.rotation_degrees or SEED_ROTATION_DEGREES
    values["shift_fraction"] = config.shift_fraction or SEED_SHIFT_FRACTION
    return values


def parse_widths(text: str, setting: str) -> list[int]:
    """'32, 64' -> [32, 64] ('' -> []); anything else raises ConfigError naming the setting."""
    if not re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*,?)?\s*", text):
        raise ConfigError(f"{setting}: write whole numbers separated by commas, e.g. 32, 64.")
    return [int(part) for part in re.findall(r"\d+", text)]


def config_from_form(values: dict[str, Any]) -> TrainConfig:
    """The validated config a filled-in form describes; ConfigError says what to change."""
    settings = {name: values[name] for name in TrainConfig().to_dict()}
    settings["filters"] = parse_widths(values["filters"], "Filters per block")
    settings["dense_units"] = parse_widths(values["dense_units"], "Dense layers")
    settings["rotation_degrees"] = float(values["rotation_degrees"]) if values["rotation_on"] else 0.0
    settings["shift_fraction"] = float(values["shift_fraction"]) if values["shift_on"] else 0.0
    return TrainConfig.from_dict(settings)


def compare_models(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for a side-by-side table: test accuracy, training time, then only the settings that differ."""
    names = [model["name"] for model in models]
    rows = [
        {"": "test accuracy", **{model["name"]: model.get("test_accuracy") for model in models}},
        {"": "training seconds", **{model["name"]: model.get("training_seconds") for model in models}},
    ]
    configs = [model.get("config") or {} for model in models]
    for setting in sorted({key for config in configs for key in config}):
        shown = [json.dumps(config.get(setting)) for config in configs]
        if len(set(shown)) > 1:
            rows.append({"": setting, **dict(zip(names, shown))})
    return rows


def store_upload(file_name: str, content: bytes) -> Path:
    """Keep an uploaded dataset under data_dir()/uploads, named by its content (re-uploads are free)."""
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(file_name).name)[-60:] or "upload"
    target = paths.data_dir() / "uploads" / f"{hashlib.sha256(content).hexdigest()[:12]}-{safe_name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(content)
        partial.replace(target)  # atomic: a half-written file never carries the final name
    return target

"""Plain-data helpers behind the training pages: the settings form, the numbers in the lessons,
model comparison and uploads.

The page's widgets hold text and on/off switches where a `TrainConfig` holds lists and numbers
("32, 64" for `filters`; a "Rotation" switch plus its degrees for `rotation_degrees`). These functions
translate both ways, so the page stays widgets only and the translation is tested without Streamlit.
The lessons beside the settings plug this model's own numbers into their formulas; they are computed
here (layer sizes, parameter counts, smoothed targets, loss floors) so that tests can check them.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

from cnn_core import i18n
from cnn_core.convolution import ops
from cnn_core.training.config import ConfigError, TrainConfig
from cnn_core.training.layers import whitening_channels

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


def setting_label(setting: str, language: str = "en") -> str:
    """A setting's name as the form shows it ("Filters per block"), or the field name if it has none."""
    return i18n.table(language).get(f"training.labels.{setting}", setting)


def parse_widths(text: str, setting: str | i18n.Message) -> list[int]:
    """'32, 64' -> [32, 64] ('' -> []); anything else raises ConfigError naming the setting."""
    if not re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*)*,?)?\s*", text):
        raise ConfigError("widths", setting=setting)
    return [int(part) for part in re.findall(r"\d+", text)]


def config_from_form(values: dict[str, Any]) -> TrainConfig:
    """The validated config a filled-in form describes; ConfigError says what to change."""
    settings = {name: values[name] for name in TrainConfig().to_dict()}
    for name in ("filters", "dense_units"):
        # The setting's label as a message, so the error names it in whichever language shows it.
        settings[name] = parse_widths(values[name], i18n.Message(f"training.labels.{name}"))
    settings["rotation_degrees"] = float(values["rotation_degrees"]) if values["rotation_on"] else 0.0
    settings["shift_fraction"] = float(values["shift_fraction"]) if values["shift_on"] else 0.0
    return TrainConfig.from_dict(settings)


PERCENT_FORMAT = "%.1f %%"  # accuracies in tables: one decimal (a test split of a few thousand images has no second)


def percent(share: float | None) -> float | None:
    """A share (0-1) as percent points for a column printed with PERCENT_FORMAT (Streamlit's "percent" prints up
    to two decimals and drops trailing zeros: 83.1 % beside 78.86 %); None stays None."""
    return None if share is None else round(100 * float(share), 1)


def recorded_corruption_mean(model: dict[str, Any]) -> float | None:
    """A saved model's mean accuracy under the corruption suite on its test split, as training recorded it (None: not)."""
    recorded = model.get("robustness")
    mean = recorded.get("mean") if isinstance(recorded, dict) else None
    return float(mean) if isinstance(mean, (int, float)) and not isinstance(mean, bool) and math.isfinite(mean) else None


def compare_models(models: list[dict[str, Any]], language: str = "en") -> list[dict[str, Any]]:
    """Rows for a side-by-side table: test accuracy, corruption accuracy (where recorded), training time, then only
    the settings that differ."""
    names = [model["name"] for model in models]
    rows = [
        {"": i18n.text(language, "models.test_accuracy"), **{model["name"]: model.get("test_accuracy") for model in models}},
        {"": i18n.text(language, "models.training_seconds"),
         **{model["name"]: model.get("training_seconds") for model in models}},
    ]
    if any(recorded_corruption_mean(model) is not None for model in models):  # recorded since the corruption suite
        rows.insert(1, {"": i18n.text(language, "models.corruption_accuracy"),
                        **{model["name"]: recorded_corruption_mean(model) for model in models}})
    configs = [model.get("config") or {} for model in models]
    for setting in sorted({key for config in configs for key in config}):
        shown = [json.dumps(config.get(setting)) for config in configs]
        if len(set(shown)) > 1:
            rows.append({"": setting_label(setting, language), **dict(zip(names, shown))})
    return rows


# --- Numbers for the lessons beside the settings. ---


def spatial_sizes(rows: list[dict[str, Any]]) -> list[tuple[str, tuple[int, ...]]]:
    """(layer, output shape) of the input and of every layer that changes the shape, from a layer table."""
    sizes: list[tuple[str, tuple[int, ...]]] = [("image", (32, 32, 3))]
    for row in rows:
        if tuple(row["output_shape"]) != sizes[-1][1]:
            sizes.append((row["layer"], tuple(row["output_shape"])))
    return sizes


def dense_layers(rows: list[dict[str, Any]]) -> list[dict[str, int | str]]:
    """Each Dense layer of a layer table as {"layer", "inputs", "units", "params"} (y = Wx + b, W: units x inputs)."""
    layers, previous = [], None
    for row in rows:
        if row["type"] == "Dense":
            layers.append({"layer": row["layer"], "inputs": math.prod(previous), "units": row["output_shape"][-1],
                           "params": row["params"]})
        previous = row["output_shape"]
    return layers


def first_conv_inputs(config: TrainConfig) -> int:
    """Input channels of the first learned convolution (block1_conv1): the image's 3, or the whitening layer's."""
    return whitening_channels(config.whitening_patch) if config.whitening_patch else 3


def conv_output_size(size: int, kernel_size: int, padding: str, stride: int = 1) -> tuple[float, int]:
    """(padding p, output size) of a convolution: floor((n + 2p - k) / s) + 1, p = (k - 1) / 2 for "same"."""
    pad = (kernel_size - 1) / 2 if padding == "same" else 0  # per side, as the lesson's formula writes it
    return pad, ops.output_size(size, kernel_size, stride, padding)


def smoothed_targets(label_smoothing: float, num_classes: int) -> tuple[float, float]:
    """The training target of the true class and of every other class: (1 - eps) [k = c] + eps / K."""
    other = label_smoothing / num_classes
    return 1 - label_smoothing + other, other


def uniform_guess_loss(num_classes: int) -> float:
    """Cross-entropy of a model that gives every class 1/K (ln K), where every training run starts."""
    return math.log(num_classes)


def smoothed_loss_floor(label_smoothing: float, num_classes: int) -> float:
    """The lowest training loss possible with label smoothing: the entropy of the smoothed target."""
    true, other = smoothed_targets(label_smoothing, num_classes)
    return -sum(weight * math.log(weight) for weight in [true] + [other] * (num_classes - 1) if weight > 0)


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: ceil(N / B) (the last batch may be smaller)."""
    return max(math.ceil(train_images / batch_size), 1)


def short_time(iso_time: str | None) -> str:
    """'2026-11-25T06:22:38+00:00' -> '2026-11-25 06:22 UTC' for tables and messages ('' when unknown)."""
    if not iso_time:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(iso_time)
    except ValueError:
        return iso_time
    return moment.strftime("%Y-%m-%d %H:%M") + (f" {moment.tzname()}" if moment.tzinfo else "")

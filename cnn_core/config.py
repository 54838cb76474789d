"""Training configuration: every hyperparameter of a run in one commented dataclass.

A `TrainConfig` is plain data (JSON-serialisable, no Keras import), so the page, the CLI, the
registry's metadata and a shared URL all describe a run the same way. `cnn_core.model` turns it
into a Keras model; `cnn_core.training` trains it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot be built or trained; the message says what to change."""


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "one_cycle", "linear")
POOLINGS = ("max", "avg", "none")
ACTIVATIONS = ("relu", "gelu", "elu", "tanh")
HEADS = ("flatten", "global_avg")


@dataclass
class TrainConfig:
    """One training run: architecture, augmentation, optimizer and schedule."""

    # --- Architecture: conv blocks, each = `convs_per_block` convolutions then one pooling. ---
    filters: list[int] = field(default_factory=lambda: [32, 64])  # output channels, one per block
    convs_per_block: int = 1  # convolutions (each + optional batch norm + activation) per block
    kernel_size: int = 3  # square kernels, "same" padding inside blocks after the first conv
    padding: str = "valid"  # the seed tutorial uses Keras' default "valid"; "same" keeps sizes
    pooling: str = "max"  # "max", "avg" or "none" after each block
    pool_size: int = 2
    batch_norm: bool = False  # BatchNormalization after each convolution, before the activation
    activation: str = "relu"
    head: str = "flatten"  # "flatten" (the seed's) or "global_avg" (fewer parameters)
    dense_units: list[int] = field(default_factory=list)  # hidden dense layers before the softmax
    dropout_rate: float = 0.0  # dropout before each dense layer (0 = none)

    # --- Augmentation: Keras preprocessing layers, active only while training. ---
    flip: bool = False  # random horizontal flip
    rotation_degrees: float = 0.0  # the seed's value is 15
    shift_fraction: float = 0.0  # random translation, fraction of width/height; the seed's is 0.1
    test_time_flip: bool = False  # average predictions over the image and its mirror

    # --- Optimisation. ---
    optimizer: str = "adam"
    learning_rate: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0  # decoupled (AdamW) or L2-like (SGD) decay
    momentum: float = 0.9  # SGD only
    schedule: str = "constant"  # how the learning rate moves over the run
    warmup_fraction: float = 0.0  # share of all steps spent ramping up from 0 (not for "constant")
    label_smoothing: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    time_budget_seconds: float = 0.0  # > 0: pick the epoch count so training fits this budget
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists copied) for JSON."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Indented JSON, the format users download and upload."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build and validate a config; unknown keys or wrong types raise ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError("A configuration must be a JSON object of settings.")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.")
        defaults = cls()
        kwargs = {}
        for name, value in values.items():
            kwargs[name] = _coerce(name, value, getattr(defaults, name))
        config = cls(**kwargs)
        config.validate()
        return config

    @classmethod
    def from_json(cls, text: str | bytes) -> "TrainConfig":
        """Parse a JSON document (e.g. an uploaded file) into a validated config."""
        try:
            values = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"This is not valid JSON: {error}") from None
        return cls.from_dict(values)

    def to_query_params(self) -> dict[str, str]:
        """Only the settings that differ from the defaults, as URL query strings."""
        defaults = TrainConfig().to_dict()
        params = {}
        for name, value in self.to_dict().items():
            if value != defaults[name]:
                params[name] = json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)
        return params

    @classmethod
    def from_query_params(cls, params: dict[str, str]) -> "TrainConfig":
        """Inverse of to_query_params; keys that are not settings (e.g. `lang`) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, text in params.items():
            if name not in known:
                continue
            default = getattr(cls(), name)
            if isinstance(default, list):
                try:
                    values[name] = json.loads(text)
                except json.JSONDecodeError:
                    raise ConfigError(f"{name}: expected a list like [32,64], got {text!r}.") from None
            else:
                values[name] = text
        return cls.from_dict(values)

    def validate(self, image_size: int = 32) -> None:
        """Raise ConfigError naming the setting to change if this run cannot be built or trained."""
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("head", self.head, HEADS)
        _check_choice("padding", self.padding, ("valid", "same"))
        if not self.filters:
            raise ConfigError("Add at least one convolution block (filters is empty).")
        if len(self.filters) > 8:
            raise ConfigError("At most 8 convolution blocks are supported.")
        for count in self.filters + self.dense_units:
            if not 1 <= count <= 2048:
                raise ConfigError(f"Layer widths must be between 1 and 2048 (got {count}).")
        _check_range("convs_per_block", self.convs_per_block, 1, 6)
        _check_range("kernel_size", self.kernel_size, 1, 11)
        _check_range("pool_size", self.pool_size, 2, 4)
        _check_range("dropout_rate", self.dropout_rate, 0.0, 0.9)
        _check_range("rotation_degrees", self.rotation_degrees, 0.0, 180.0)
        _check_range("shift_fraction", self.shift_fraction, 0.0, 0.5)
        _check_range("learning_rate", self.learning_rate, 1e-6, 1.0)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("warmup_fraction", self.warmup_fraction, 0.0, 0.5)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("epochs", self.epochs, 1, 1000)
        _check_range("time_budget_seconds", self.time_budget_seconds, 0.0, 7 * 24 * 3600)
        size = image_size
        for block, _ in enumerate(self.filters, start=1):
            # Only the first conv of a block uses `padding`; later ones use "same" (see model.py).
            if self.padding == "valid":
                size -= self.kernel_size - 1
            if size < 1:
                raise ConfigError(
                    f"Block {block}: a {self.kernel_size}x{self.kernel_size} kernel no longer fits "
                    f"(feature map would be {size}x{size}). Use padding 'same', smaller kernels or fewer blocks."
                )
            if self.pooling != "none":
                if size < self.pool_size:
                    raise ConfigError(
                        f"Block {block}: the {size}x{size} feature map is too small for {self.pool_size}x"
                        f"{self.pool_size} pooling. Remove a block, turn pooling off, or use padding 'same'."
                    )
                size //= self.pool_size


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a JSON or query-string value to the type of the setting's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            if not isinstance(value, (bool, int)):
                raise ValueError
            return bool(value)
        if isinstance(default, list):
            if not isinstance(value, list) or not all(_is_whole(item) for item in value):
                raise ValueError
            return [int(float(item)) for item in value]
        if isinstance(default, int):
            if isinstance(value, bool) or not _is_whole(value):
                raise ValueError
            return int(float(value))
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}: {value!r} is not a valid {type(default).__name__}.") from None


def _is_whole(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r}).")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g} (got {value:g}).")


# --- Presets. "seed" is exactly the tutorial's model; "quick" and "default" are tuned in bench/bench_recipe.py. ---

PRESETS: dict[str, TrainConfig] = {
    "seed": TrainConfig(),
    "quick": TrainConfig(
        filters=[32, 64, 128], padding="same", batch_norm=True, head="global_avg",
        flip=True, shift_fraction=0.1, test_time_flip=True,
        optimizer="adamw", learning_rate=3e-3, weight_decay=5e-4, schedule="one_cycle",
        warmup_fraction=0.2, label_smoothing=0.1, batch_size=128, epochs=8,
    ),
    "default": TrainConfig(
        filters=[32, 64, 128], convs_per_block=2, padding="same", batch_norm=True, head="global_avg",
        flip=True, shift_fraction=0.1, test_time_flip=True,
        optimizer="adamw", learning_rate=3e-3, weight_decay=5e-4, schedule="one_cycle",
        warmup_fraction=0.2, label_smoothing=0.1, batch_size=128, epochs=20,
    ),
}


def preset(name: str) -> TrainConfig:
    """A fresh copy of a named preset (seed, quick, default)."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return TrainConfig.from_dict(PRESETS[name].to_dict())

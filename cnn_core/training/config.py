"""Training configuration: every hyperparameter of a run in one commented dataclass.

A `TrainConfig` is plain data (JSON-serialisable, no Keras import), so the page, the CLI, the
registry's metadata and a shared URL all describe a run the same way. `cnn_core.training.model` turns it
into a Keras model; `cnn_core.training.launch` trains it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from cnn_core.i18n import TranslatableError
from cnn_core.training.layers import parameter_count, whitening_channels


class ConfigError(TranslatableError, ValueError):
    """A configuration that cannot be built or trained; the message says what to change."""

    section = "errors.config"


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "one_cycle", "linear")
POOLINGS = ("max", "avg", "none")
POOL_POSITIONS = ("end", "after_first_conv")
ACTIVATIONS = ("relu", "gelu", "elu", "tanh")
HEADS = ("flatten", "global_avg")
# Limits that keep one person's settings (or a shared link) from exhausting a shared server. A Keras model
# is built in the web server itself for the layer table, so its weights must stay small; 16 M float32
# weights (64 MB) is more than a ResNet-18 for CIFAR-10 has.
MAX_PARAMETERS = 16 * 2**20
# Layer outputs of one batch, as float32: what training holds in memory for the backward pass (roughly twice
# this in all). Above it the training process would run out of memory instead of giving a message.
MAX_BATCH_ACTIVATION_BYTES = 4 * 2**30
MAX_DENSE_LAYERS = 8
MAX_SEED = 2**31 - 1
MAX_WHITENING_PATCH = 4  # 4 x 4 patches already give 96 whitened channels at full resolution
MAX_WHITENING_GAIN = 100.0  # above 1/√ε ≈ 45 (cnn_core.training.model.WHITENING_EPSILON) a cap changes nothing
MAX_NOISE_STD = 64.0  # pixel levels: a quarter of the range, already hard to recognise anything through
MAX_BLUR_SIGMA = 3.0  # pixels: a 32 x 32 picture blurred more is a smudge


@dataclass
class TrainConfig:
    """One training run: architecture, augmentation, optimizer and schedule."""

    # --- Architecture: an optional whitening layer, then conv blocks of `convs_per_block` convolutions and a pooling. ---
    # > 0: a fixed first convolution (k x k, "block0_conv1") computed from the training images, not learned: it
    # decorrelates each k x k patch's pixels (PCA whitening, as airbench does) so training starts on features of
    # equal scale. 2 gives 24 channels (12 directions and their negatives); 0 = off, as in the seed tutorial.
    whitening_patch: int = 0
    # > 0: no whitening direction is amplified more than this. Whitening divides each direction by its spread, so the
    # rarest ones (fine colour and texture detail) get gains up to ~43 on the subset's 2x2 patches, and a little
    # noise along them moves the network far; a cap scales those directions down to it. 0 = no cap.
    whitening_max_gain: float = 0.0
    filters: list[int] = field(default_factory=lambda: [32, 64])  # output channels, one per block
    convs_per_block: int = 1  # convolutions (each + optional batch norm + activation) per block
    kernel_size: int = 3  # square kernels, "same" padding inside blocks after the first conv
    padding: str = "valid"  # the seed tutorial uses Keras' default "valid"; "same" keeps sizes
    pooling: str = "max"  # "max", "avg" or "none" after each block
    pool_size: int = 2
    # "end": pool after the block's last convolution (VGG); "after_first_conv": pool right after the
    # first one (ResNet-9/airbench order), so the block's other convolutions run on a 4x smaller map.
    pool_position: str = "end"
    batch_norm: bool = False  # BatchNormalization after each convolution, before the activation
    activation: str = "relu"
    head: str = "flatten"  # "flatten" (the seed's) or "global_avg" (fewer parameters)
    dense_units: list[int] = field(default_factory=list)  # hidden dense layers before the softmax
    dropout_rate: float = 0.0  # dropout before each dense layer (0 = none)

    # --- Augmentation: Keras preprocessing layers, active only while training. ---
    flip: bool = False  # random horizontal flip
    rotation_degrees: float = 0.0  # the seed's value is 15
    shift_fraction: float = 0.0  # random translation, fraction of width/height; the seed's is 0.1
    # > 0: mixup (Zhang et al. 2018): each training image is blended with another of its batch, x = λ·a + (1 − λ)·b,
    # and its label alike, λ drawn per image from Beta(α, α). α = 0.2 keeps most images nearly whole; 0 = off.
    mixup_alpha: float = 0.0
    # > 0: a time budget that holds at least twice `epochs` (a faster machine than the preset was tuned on, or a longer
    # budget) turns mixup on at this α, unless mixup_alpha already is: a run that long has epochs to spare for it. 0 = never.
    long_run_mixup_alpha: float = 0.0
    # > 1: a time budget that holds at least four times `epochs` trains a wider network instead of ever more epochs of
    # this one: every block's filters times this (to a multiple of 8), unless that passes a shared server's limits
    # (cnn_core.training.limits). Past a few times its epochs a small network only memorises more; width keeps
    # turning time into accuracy. 1 = never.
    long_run_width: float = 1.0
    long_run_weight_decay: float = 0.0  # > 0: the weight decay of such a widened run (a wider network overfits sooner)
    # > 0: Gaussian noise added to every training image, its standard deviation (pixel levels out of 255) drawn per
    # image uniformly between 0 and this, so the network also meets images as grainy as a phone's. 0 = off.
    noise_std: float = 0.0
    # > 0: every training image blurred by a Gaussian whose standard deviation (pixels) is drawn per image uniformly
    # between 0 and this, as a photo slightly out of focus. 0 = off.
    blur_sigma: float = 0.0
    # > 0: every training image saved as a JPEG and read back, at a quality drawn per image uniformly between this
    # and 100, as photos shared through the web are. 0 = off.
    jpeg_quality: int = 0
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
    # True: the first third of the epochs trains on images shrunk to half their side, the second third to three
    # quarters, the rest (and always the last epoch) at full size; a time budget then holds more epochs (see
    # cnn_core.training.progressive). Needs the "global_avg" head, which takes any image size.
    progressive_resizing: bool = False
    time_budget_seconds: float = 0.0  # > 0: pick the epoch count so training fits this budget
    seed: int = 0
    # Share of the *training* images held out (per class, seeded) to validate on: the live curves, time-budget
    # re-planning and the best epoch of a stopped run use it. The test split is scored once, at the end.
    validation_fraction: float = 0.1

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
            raise ConfigError("not_an_object")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(values) - set(known)))
        if unknown:
            raise ConfigError("unknown_settings", names=_clip(", ".join(unknown)))
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
        except RecursionError:
            raise ConfigError("too_deep") from None
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers with thousands of digits
            raise ConfigError("bad_json", reason=_clip(str(error))) from None
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
                except (ValueError, RecursionError):  # bad JSON, absurd nesting or integer length
                    raise ConfigError("not_a_list", name=name, value=_short(text)) from None
            else:
                values[name] = text
        return cls.from_dict(values)

    def validate(self, image_size: int = 32, num_classes: int = 10) -> None:
        """Raise ConfigError naming the setting to change if this run cannot be built or trained."""
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("pool_position", self.pool_position, POOL_POSITIONS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("head", self.head, HEADS)
        _check_choice("padding", self.padding, ("valid", "same"))
        if not self.filters:
            raise ConfigError("no_blocks")
        if len(self.filters) > 8:
            raise ConfigError("too_many_blocks", limit=8)
        if len(self.dense_units) > MAX_DENSE_LAYERS:
            raise ConfigError("too_many_dense_layers", limit=MAX_DENSE_LAYERS)
        for count in self.filters + self.dense_units:
            if not 1 <= count <= 2048:
                raise ConfigError("width_out_of_range", low=1, high=2048, value=_short(count))
        _check_range("convs_per_block", self.convs_per_block, 1, 6)
        _check_range("whitening_patch", self.whitening_patch, 0, MAX_WHITENING_PATCH)
        _check_range("kernel_size", self.kernel_size, 1, 11)
        _check_range("pool_size", self.pool_size, 2, 4)
        _check_range("dropout_rate", self.dropout_rate, 0.0, 0.9)
        _check_range("rotation_degrees", self.rotation_degrees, 0.0, 180.0)
        _check_range("shift_fraction", self.shift_fraction, 0.0, 0.5)
        _check_range("mixup_alpha", self.mixup_alpha, 0.0, 1.0)
        _check_range("long_run_mixup_alpha", self.long_run_mixup_alpha, 0.0, 1.0)
        _check_range("long_run_width", self.long_run_width, 1.0, 4.0)
        _check_range("long_run_weight_decay", self.long_run_weight_decay, 0.0, 1.0)
        _check_range("noise_std", self.noise_std, 0.0, MAX_NOISE_STD)
        _check_range("blur_sigma", self.blur_sigma, 0.0, MAX_BLUR_SIGMA)
        if self.jpeg_quality != 0:
            _check_range("jpeg_quality", self.jpeg_quality, 1, 99)
        if self.whitening_max_gain != 0:
            _check_range("whitening_max_gain", self.whitening_max_gain, 1.0, MAX_WHITENING_GAIN)
        _check_range("learning_rate", self.learning_rate, 1e-6, 1.0)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("warmup_fraction", self.warmup_fraction, 0.0, 0.5)
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_range("validation_fraction", self.validation_fraction, 0.0, 0.5)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("epochs", self.epochs, 1, 1000)
        _check_range("time_budget_seconds", self.time_budget_seconds, 0.0, 7 * 24 * 3600)
        if not 0 <= self.seed <= MAX_SEED:  # NumPy and TensorFlow seeds are 32-bit
            raise ConfigError("bad_seed", name="seed", high=MAX_SEED, value=_short(self.seed))
        if self.progressive_resizing and self.head != "global_avg":
            raise ConfigError("progressive_needs_global_avg")
        self._check_sizes(image_size)
        if self.progressive_resizing:
            self._check_sizes(image_size // 2)  # the first phase's images: blocks must still fit them
        self._check_size_limits(image_size, num_classes)

    def _check_sizes(self, image_size: int) -> None:
        """ConfigError if a block's kernel or pooling does not fit what is left of an image of `image_size`."""
        size = image_size
        for block, _ in enumerate(self.filters, start=1):
            # Only the first conv of a block uses `padding`; later ones use "same" (see model.py).
            if self.padding == "valid":
                size -= self.kernel_size - 1
            if size < 1:
                raise ConfigError("kernel_does_not_fit", block=block, kernel=self.kernel_size, size=size)
            if self.pooling != "none":
                if size < self.pool_size:
                    raise ConfigError("pool_does_not_fit", block=block, size=size, pool=self.pool_size)
                size //= self.pool_size

    def _check_size_limits(self, image_size: int, num_classes: int) -> None:
        parameters = parameter_count(self, num_classes, image_size)
        if parameters > MAX_PARAMETERS:
            raise ConfigError("too_many_weights", weights=parameters, limit=MAX_PARAMETERS)
        batch_bytes = 4 * self.batch_size * activation_count(self, image_size)
        if batch_bytes > MAX_BATCH_ACTIVATION_BYTES:
            raise ConfigError("batch_too_large", batch_size=self.batch_size, gigabytes=batch_bytes / 2**30,
                              limit=MAX_BATCH_ACTIVATION_BYTES / 2**30)


# --- Sizes, computed from the settings alone (a hostile config must be refused before Keras builds it);
# the weights come from the layer-by-layer walk in cnn_core.training.layers. ---


def activation_count(config: TrainConfig, image_size: int = 32) -> int:
    """Values in all layer outputs for one image (an upper estimate: what one training example holds)."""
    augmentations = bool(config.flip) + (config.rotation_degrees > 0) + (config.shift_fraction > 0)
    total = image_size**2 * 3 * (2 + augmentations)  # input, rescaled, one copy per augmentation
    if config.whitening_patch:
        total += 2 * image_size**2 * whitening_channels(config.whitening_patch)  # whitened, then activated
    per_conv = 3 if config.batch_norm else 1  # conv, batch norm, activation outputs
    size = image_size
    for filters in config.filters:
        for conv in range(config.convs_per_block):
            if conv == 0 and config.padding == "valid":
                size = max(size - (config.kernel_size - 1), 1)
            total += per_conv * size * size * filters
            if conv == 0 and config.pool_position == "after_first_conv" and config.pooling != "none":
                size = max(size // config.pool_size, 1)
                total += size * size * filters
        if config.pool_position == "end" and config.pooling != "none":
            size = max(size // config.pool_size, 1)
            total += size * size * filters
    return total + sum(config.dense_units) * 2


def _clip(text: str, limit: int = 200) -> str:
    """Text cut to `limit` characters: error messages quote what was given, not megabytes of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any) -> str:
    """A short repr() of a value for an error message."""
    return _clip(repr(value), 60)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a JSON or query-string value to the type of the setting's default."""
    try:
        if isinstance(default, bool):
            return _to_bool(value)
        if isinstance(default, list):
            if not isinstance(value, list) or not all(_is_whole(item) for item in value):
                raise ValueError
            return [int(float(item)) for item in value]
        if isinstance(default, (int, float)) and isinstance(value, bool):
            raise ValueError  # JSON's true is not the number 1 here
        if isinstance(default, int):
            if not _is_whole(value):
                raise ValueError
            return int(float(value))
        if isinstance(default, float):
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError, OverflowError):
        raise ConfigError("wrong_type", name=name, value=_short(value), type=type(default).__name__) from None


def _to_bool(value: Any) -> bool:
    """True/False from a JSON boolean or number, or from "true"/"false"/"1"/"0" in a link; ValueError otherwise."""
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError
        return value.lower() in ("true", "1")
    if not isinstance(value, (bool, int)):
        raise ValueError
    return bool(value)


def _is_whole(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError("not_a_choice", name=name, choices=", ".join(choices), value=_short(value))


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError("out_of_range", name=name, low=low, high=high, value=value)


# --- Presets. "seed" is exactly the tutorial's model; the others are measured by bench/bench_recipe.py. ---
# Each is defined by a time budget, because that is what its goal is (test accuracy on the CIFAR-10 subset on 2 CPU
# cores: quick within 30 s, default within 180 s, best within 900 s): faster hardware trains more epochs in the same
# budget, slower hardware or the full CIFAR-10 fewer, and a run never takes much longer than promised. `epochs` is what
# fits the budget on a quiet 2-core AVX2 machine with the subset; it applies when the budget is 0, and a budget that
# holds twice it is a long run (long_run_mixup_alpha). Every lever was chosen on validation accuracy, clean and under
# the corruption suite (cnn_core.classify.corruptions); what each one measured is in docs/results.md:
# - whitening, pooling after each block's first convolution, batch norm, a global-average head, one-cycle, label
#   smoothing, flip with test-time flip: what pays most on a CPU;
# - batches of 64 in quick and default (oneDNN runs them faster per image, so more epochs fit); best keeps 32;
# - progressive resizing in default only (quick's 1-2 epochs leave no phases; in best it lost);
# - weight decay 0.1 in best, the one network long enough to overfit 4,576 images;
# - robustness: quick adds noise and caps the whitening gains (a photo's grain swamped directions it amplified 43x);
#   default and best give each image one of noise, blur or JPEG, and mixup on long runs;
# - default widened to best's widths (with best's weight decay) when its budget holds four times its epochs;
# - 10 % of the training images held out to validate on (the live curve and a stopped run's best epoch need them).

PRESETS: dict[str, TrainConfig] = {
    "seed": TrainConfig(),
    "quick": TrainConfig(
        whitening_patch=2, filters=[32, 64, 128], convs_per_block=2, padding="same",
        pool_position="after_first_conv",
        batch_norm=True, head="global_avg",
        flip=True, test_time_flip=True, noise_std=8.0, whitening_max_gain=10.0,
        optimizer="adamw", learning_rate=4e-3, weight_decay=5e-4, schedule="one_cycle",
        warmup_fraction=0.2, label_smoothing=0.1, batch_size=64, epochs=2, time_budget_seconds=30.0,
    ),
    "default": TrainConfig(
        whitening_patch=2, filters=[48, 96, 192], convs_per_block=2, padding="same",
        pool_position="after_first_conv",
        batch_norm=True, head="global_avg",
        flip=True, shift_fraction=0.1, test_time_flip=True, noise_std=16.0, blur_sigma=1.0, jpeg_quality=30,
        optimizer="adamw", learning_rate=4e-3, weight_decay=5e-4, schedule="one_cycle",
        warmup_fraction=0.2, label_smoothing=0.1, batch_size=64, epochs=17, time_budget_seconds=170.0,
        progressive_resizing=True, long_run_mixup_alpha=0.2, long_run_width=1.33, long_run_weight_decay=0.1,
    ),
    "best": TrainConfig(
        whitening_patch=2, filters=[64, 128, 256], convs_per_block=2, padding="same",
        pool_position="after_first_conv",
        batch_norm=True, head="global_avg",
        flip=True, shift_fraction=0.1, test_time_flip=True, noise_std=16.0, blur_sigma=1.0, jpeg_quality=30,
        optimizer="adamw", learning_rate=3e-3, weight_decay=0.1, schedule="one_cycle",
        warmup_fraction=0.2, label_smoothing=0.1, batch_size=32, epochs=27, time_budget_seconds=880.0,
        long_run_mixup_alpha=0.2,
    ),
}


def preset(name: str) -> TrainConfig:
    """A fresh copy of a named preset (seed, quick, default, best)."""
    if name not in PRESETS:
        raise ConfigError("unknown_preset", name=name, choices=", ".join(PRESETS))
    return TrainConfig.from_dict(PRESETS[name].to_dict())

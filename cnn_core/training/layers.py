"""The network a TrainConfig describes, layer by layer, from the settings alone: names, types, output shapes, weights
and FLOPs, exactly as Keras builds it (cnn_core.training.model.build_model; tests/training/test_layers.py compares
the two on many random configs), without importing TensorFlow.

Why not ask Keras: building a model costs the ~2.5 s and ~500 MB of TensorFlow's import, and the training page shows
this table to every visitor for every change of a setting. The validator uses the same walk to refuse hostile
settings before anything is built. FLOPs count 2 per multiply-add of Conv2D and Dense layers only (bias adds,
pooling, normalisation and activations are a few percent); weights include batch norm's moving statistics.
"""

from __future__ import annotations

from typing import Any

# `config` below is a cnn_core.training.config.TrainConfig, not imported: its validator counts weights with this walk.
TrainConfig = Any

POOLING_TYPES = {"max": "MaxPooling2D", "avg": "AveragePooling2D"}


def whitening_channels(patch: int) -> int:
    """Output channels of the whitening layer for k x k patches: one per direction of a patch's 3k² pixels, and its negative."""
    return 2 * 3 * patch**2


class _Walk:
    """Rows appended while the image's (height, width, channels) is followed through the network."""

    def __init__(self, image_size: int):
        self.rows: list[dict[str, Any]] = []
        self.shape = (image_size, image_size, 3)

    def add(self, name: str, kind: str, shape: tuple[int, ...] | None = None, params: int = 0, flops: int = 0) -> None:
        self.shape = self.shape if shape is None else shape
        self.rows.append({"layer": name, "type": kind, "output_shape": self.shape, "params": params, "flops": flops})

    def conv(self, name: str, filters: int, kernel: int, padding: str, bias: bool) -> None:
        size, _, channels = self.shape
        size = size - kernel + 1 if padding == "valid" else size
        self.add(name, "Conv2D", (size, size, filters), kernel * kernel * channels * filters + (filters if bias else 0),
                 2 * size * size * filters * kernel * kernel * channels)

    def pool(self, name: str, pooling: str, pool_size: int) -> None:
        if pooling in POOLING_TYPES:
            size, _, channels = self.shape
            self.add(name, POOLING_TYPES[pooling], (size // pool_size, size // pool_size, channels))

    def dense(self, name: str, units: int) -> None:
        (features,) = self.shape
        self.add(name, "Dense", (units,), features * units + units, 2 * features * units)


def layer_rows(config: TrainConfig, num_classes: int = 10, image_size: int = 32) -> list[dict[str, Any]]:
    """One row per layer of build_model(config, num_classes): {"layer", "type", "output_shape", "params", "flops"}."""
    walk = _Walk(image_size)
    walk.add("rescaling", "Rescaling")
    for name, kind, active in (("random_flip", "RandomFlip", config.flip),
                               ("random_rotation", "RandomRotation", config.rotation_degrees > 0),
                               ("random_translation", "RandomTranslation", config.shift_fraction > 0)):
        if active:
            walk.add(name, kind)
    if config.whitening_patch:
        walk.conv("block0_conv1", whitening_channels(config.whitening_patch), config.whitening_patch, "same", True)
        walk.add("block0_act1", "Activation")
    for block, filters in enumerate(config.filters, start=1):
        _conv_block(walk, config, block, filters)
    _head(walk, config, num_classes)
    return walk.rows


def _conv_block(walk: _Walk, config: TrainConfig, block: int, filters: int) -> None:
    early = config.pool_position == "after_first_conv"
    for conv in range(1, config.convs_per_block + 1):
        walk.conv(f"block{block}_conv{conv}", filters, config.kernel_size, config.padding if conv == 1 else "same",
                  bias=not config.batch_norm)
        if conv == 1 and early:
            walk.pool(f"block{block}_pool", config.pooling, config.pool_size)
        if config.batch_norm:
            walk.add(f"block{block}_bn{conv}", "BatchNormalization", params=4 * filters)
            walk.add(f"block{block}_act{conv}", "Activation")
    if not early:
        walk.pool(f"block{block}_pool", config.pooling, config.pool_size)


def _head(walk: _Walk, config: TrainConfig, num_classes: int) -> None:
    height, width, channels = walk.shape
    if config.head == "flatten":
        walk.add("flatten", "Flatten", (height * width * channels,))
    else:
        walk.add("global_pool", "GlobalAveragePooling2D", (channels,))
    for index, units in enumerate(config.dense_units + [num_classes], start=1):
        if config.dropout_rate > 0:
            walk.add(f"dropout{index}", "Dropout")
        walk.dense(f"dense{index}" if index <= len(config.dense_units) else "predictions", units)


def parameter_count(config: TrainConfig, num_classes: int = 10, image_size: int = 32) -> int:
    """Weights of build_model(config, num_classes), batch-norm statistics included."""
    return sum(row["params"] for row in layer_rows(config, num_classes, image_size))


def flops_per_image(config: TrainConfig, num_classes: int = 10, image_size: int = 32) -> int:
    """2 x multiply-adds of every convolution and dense layer for one image."""
    return sum(row["flops"] for row in layer_rows(config, num_classes, image_size))


def weight_bytes(config: TrainConfig, num_classes: int = 10) -> int:
    """Size of the model's weights as float32 (4 bytes per weight; optimizer state not included)."""
    return 4 * parameter_count(config, num_classes)

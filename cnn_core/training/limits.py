"""What one training run may cost on a public server, computed from the settings alone (no TensorFlow).

A shared server (cnn_core.server.settings.public_mode) trains one run at a time for a whole class, so a single
link must not hold it for weeks: the largest network the validator accepts (16.5 M weights, no pooling,
batch 250, 1,000 epochs) trained at 3 images/s and took 108 s to honour Stop, because Stop is checked
between batches and one batch took that long. Capping the work per image caps the time per batch, so Stop
acts within seconds; capping the weights caps memory; the time budget caps the whole run.
The figures are the layer table's (cnn_core.training.model.layer_table): 2 x multiply-adds of conv and dense layers.
"""

from __future__ import annotations

import dataclasses

from cnn_core.i18n import TranslatableError
from cnn_core.server import settings
from cnn_core.training.config import TrainConfig, parameter_count, whitening_channels

# The "default" preset needs 77 MFLOPs and 0.65 M weights per image: these leave room for experiments at
# ~2.5x that, while one batch of 256 stays a few seconds of work on a small cloud CPU.
MAX_PUBLIC_FLOPS = 200_000_000
MAX_PUBLIC_PARAMETERS = 2_000_000


class CostError(TranslatableError, ValueError):
    """A run a public server will not train; the message says which number to bring down."""

    section = "errors.cost"


def flops_per_image(config: TrainConfig, num_classes: int = 10, image_size: int = 32) -> int:
    """2 x multiply-adds of every convolution and dense layer for one image (as the layer table counts)."""
    total, channels, size = 0, 3, image_size
    if config.whitening_patch:
        channels = whitening_channels(config.whitening_patch)
        total += 2 * size * size * channels * config.whitening_patch**2 * 3
    for filters in config.filters:
        for conv in range(config.convs_per_block):
            if conv == 0 and config.padding == "valid":
                size = max(size - (config.kernel_size - 1), 1)
            total += 2 * size * size * filters * config.kernel_size**2 * channels
            channels = filters
            if conv == 0 and config.pool_position == "after_first_conv" and config.pooling != "none":
                size = max(size // config.pool_size, 1)
        if config.pool_position == "end" and config.pooling != "none":
            size = max(size // config.pool_size, 1)
    features = channels * size * size if config.head == "flatten" else channels
    for units in config.dense_units + [num_classes]:
        total += 2 * features * units
        features = units
    return total


def public_limits(config: TrainConfig, num_classes: int = 10) -> TrainConfig:
    """`config` as a public server trains it: CostError if it is too big, its time budget capped.

    Off public mode the config is returned unchanged.
    """
    if not settings.public_mode():
        return config
    flops = flops_per_image(config, num_classes)
    if flops > MAX_PUBLIC_FLOPS:
        raise CostError("flops", flops=f"{flops / 1e6:,.0f}", limit=f"{MAX_PUBLIC_FLOPS / 1e6:,.0f}")
    parameters = parameter_count(config, num_classes)
    if parameters > MAX_PUBLIC_PARAMETERS:
        raise CostError("parameters", parameters=f"{parameters:,}", limit=f"{MAX_PUBLIC_PARAMETERS:,}")
    budget = settings.max_run_seconds()
    if 0 < config.time_budget_seconds <= budget:
        return config
    return dataclasses.replace(config, time_budget_seconds=budget)

"""What one training run may cost on a shared server, computed from the settings alone (no TensorFlow).

A shared server (cnn_core.settings.public_mode) trains one run at a time for a whole class, so a single
link must not hold it for weeks: the largest network the validator accepts (16.5 M weights, no pooling,
batch 250, 1,000 epochs) trained at 3 images/s and took 108 s to honour Stop, because Stop is checked
between batches and one batch took that long. Capping the work per image and per batch caps the time per batch,
so Stop acts within seconds; capping the weights caps memory. The server decides when these apply (the queue, in
public mode) and how long a run may take (a ceiling it passes in the run's request); nothing here reads settings.
The figures are the layer table's (cnn_core.training.layers): 2 x multiply-adds of conv and dense layers.
"""

from __future__ import annotations

from cnn_core.i18n import TranslatableError
from cnn_core.training.config import TrainConfig
from cnn_core.training.layers import flops_per_image, parameter_count

# The "default" preset needs 77 MFLOPs and 0.65 M weights per image: these leave room for experiments at
# ~2.5x that, while one batch stays a few seconds of work on a small cloud CPU.
MAX_PUBLIC_FLOPS = 200_000_000
MAX_PUBLIC_PARAMETERS = 2_000_000
# One batch's forward work: 256 images at the per-image limit. Filters 128-256 in batches of 4,096 (430 GFLOPs a
# batch) sat in "loading" for 6 minutes on 2 cores while its first steps were timed.
MAX_PUBLIC_BATCH_FLOPS = 256 * MAX_PUBLIC_FLOPS


class CostError(TranslatableError, ValueError):
    """A run a public server will not train; the message says which number to bring down."""

    section = "errors.cost"


def check_cost(config: TrainConfig, num_classes: int = 10) -> None:
    """CostError, saying which number to bring down, if a shared server should not train `config`."""
    flops = flops_per_image(config, num_classes)
    if flops > MAX_PUBLIC_FLOPS:
        raise CostError("flops", flops=f"{flops / 1e6:,.0f}", limit=f"{MAX_PUBLIC_FLOPS / 1e6:,.0f}")
    parameters = parameter_count(config, num_classes)
    if parameters > MAX_PUBLIC_PARAMETERS:
        raise CostError("parameters", parameters=f"{parameters:,}", limit=f"{MAX_PUBLIC_PARAMETERS:,}")
    if flops * config.batch_size > MAX_PUBLIC_BATCH_FLOPS:
        raise CostError("batch_flops", batch_size=config.batch_size, gflops=f"{flops * config.batch_size / 1e9:,.0f}",
                        limit=f"{MAX_PUBLIC_BATCH_FLOPS / 1e9:,.0f}", largest=max(1, MAX_PUBLIC_BATCH_FLOPS // flops))

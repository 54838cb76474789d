"""What a model's robustness record holds: the corruption suite, each corruption's name, kind and level.

The record (`"robustness"` in a model's metadata) keeps one accuracy per corruption under its name, beside "clean" and
"mean"; cnn_core.classify.corruptions applies the corruptions and scores them, the model card reads the record back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Corruption:
    """One corruption of the suite: a what-if perturbation at a fixed level."""

    name: str  # the key in results and model metadata
    kind: str  # one of probes.PERTURBATIONS
    level: float  # in the classify page's slider units (probes.RANGES)


# Noise at 4 and 8 pixel levels (/255) of standard deviation, a Gaussian blur of radius 1 pixel, Pillow's JPEG at
# quality 30, and contrast cut to 0.6 of itself around each image's mean (a dull, hazy exposure).
SUITE = (
    Corruption("noise_4", "noise", 4.0),
    Corruption("noise_8", "noise", 8.0),
    Corruption("blur_1", "blur", 1.0),
    Corruption("jpeg_30", "jpeg", 30.0),
    Corruption("contrast_0.6", "contrast", 0.6),
)
NAMES = tuple(corruption.name for corruption in SUITE)

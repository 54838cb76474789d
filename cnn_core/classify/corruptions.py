"""A fixed suite of common corruptions (CIFAR-10-C in spirit): a model's accuracy under each, and their mean.

A photo from a phone is rarely as clean as a CIFAR-10 test image: sensor noise, a little blur, JPEG
compression, a dull exposure. The suite applies each corruption to every labelled image with the what-if
probes of the classify page (cnn_core.classify.probes), at one fixed level each, and scores the model with
test-time flip off (as `python -m cnn_core robustness` does). "Corruption accuracy" is the mean over the
suite; "clean" is the same model on the untouched images, flip off too, so the gap is the corruptions' cost.
Noise is drawn per image from its index (seeded): the same images always get the same noise.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from cnn_core.classify import probes
from cnn_core.models.robustness import NAMES, SUITE, Corruption


def corrupt(images: np.ndarray, corruption: Corruption) -> np.ndarray:
    """Every image of a uint8 batch (n, h, w, 3) corrupted; image i's noise is drawn from seed i."""
    images = np.asarray(images, dtype=np.uint8)
    if not len(images):
        return images.copy()
    return np.stack([probes.perturb(image, corruption.kind, corruption.level, noise_seed=index)
                     for index, image in enumerate(images)])


def accuracy(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray) -> float:
    """Share of `images` whose most probable class under `predict` (float pixels -> probabilities) is the label."""
    if not len(labels):
        return 0.0
    predicted = np.asarray(predict(np.asarray(images, dtype=np.float32))).argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def corruption_accuracy(model, images: np.ndarray, labels: np.ndarray,
                        predict: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, float]:
    """{"clean": ..., one accuracy per corruption of SUITE, "mean": their mean}, test-time flip off.

    `predict` (float pixels -> probabilities, e.g. a traced forward pass) replaces probes.forward(model, ...).
    """
    predict = predict or (lambda batch: probes.forward(model, batch))
    result = {"clean": accuracy(predict, images, labels)}
    for corruption in SUITE:
        result[corruption.name] = accuracy(predict, corrupt(images, corruption), labels)
    result["mean"] = float(np.mean([result[name] for name in NAMES]))
    return result

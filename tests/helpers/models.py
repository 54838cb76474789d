"""Helpers for tests that save and load models: a fixed batch of images to compare outputs on, and a full disk."""

from __future__ import annotations

import errno

import keras
import numpy as np

IMAGES = np.random.default_rng(1).integers(0, 256, size=(6, 32, 32, 3)).astype(np.float32)


def outputs(model) -> np.ndarray:
    """The model's predictions for IMAGES (equal outputs: the same weights)."""
    return keras.ops.convert_to_numpy(model(IMAGES, training=False))


class DiskFull:
    """Stands in for the model Keras would save: writes the first bytes of a .keras file, then runs out of space."""

    def save(self, path) -> None:
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04" + b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

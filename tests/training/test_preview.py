"""cnn_core.training.preview: the training page's augmentation preview, drawn in NumPy (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from cnn_core.training.config import TrainConfig
from cnn_core.training.preview import augment_preview

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)


def test_augment_preview():
    assert augment_preview(IMAGES, TrainConfig()).dtype == np.uint8
    np.testing.assert_array_equal(augment_preview(IMAGES, TrainConfig()), IMAGES)  # nothing switched on
    images = RNG.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    flipped = augment_preview(images, TrainConfig(flip=True), seed=3)
    mirrored = [np.array_equal(out, image[:, ::-1]) for out, image in zip(flipped, images)]
    same = [np.array_equal(out, image) for out, image in zip(flipped, images)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)
    np.testing.assert_array_equal(flipped, augment_preview(images, TrainConfig(flip=True), seed=3))
    shifted = augment_preview(images, TrainConfig(shift_fraction=0.2, rotation_degrees=30), seed=1)
    assert shifted.shape == images.shape and not np.array_equal(shifted, images)

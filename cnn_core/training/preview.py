"""The augmentations of a TrainConfig drawn once on a few images, for the training page's preview, in NumPy and
Pillow: the operations the Keras layers apply while training (cnn_core.training.model.augmentation_layers: a mirror
with probability 1/2, a rotation and a shift each drawn uniformly, the border filled by reflection), without
importing TensorFlow into the web process for eight 32 x 32 pictures.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cnn_core.training.config import TrainConfig


def augment_preview(images: np.ndarray, config: TrainConfig, seed: int = 0) -> np.ndarray:
    """One random draw of the configured augmentations on uint8 images (n, h, w, 3) -> uint8 (n, h, w, 3)."""
    rng = np.random.default_rng(seed)
    return np.stack([_augment(np.asarray(image, dtype=np.uint8), config, rng) for image in images])


def _augment(image: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    height, width, _ = image.shape
    if config.flip and rng.random() < 0.5:
        image = image[:, ::-1]
    degrees = rng.uniform(-config.rotation_degrees, config.rotation_degrees) if config.rotation_degrees > 0 else 0.0
    shift = config.shift_fraction
    dx, dy = (rng.uniform(-shift, shift, 2) * (width, height)) if shift > 0 else (0.0, 0.0)
    return _moved(image, degrees, dx, dy) if degrees or dx or dy else np.ascontiguousarray(image)


def _moved(image: np.ndarray, degrees: float, dx: float, dy: float) -> np.ndarray:
    """`image` turned `degrees` counter-clockwise about its centre and shifted (dx, dy) pixels, bilinear; what comes in
    from beyond the border is the border mirrored (Keras' fill_mode="reflect", "d c b a | a b c d | d c b a")."""
    height, width, _ = image.shape
    padded = np.pad(image, ((height, height), (width, width), (0, 0)), mode="symmetric")
    moved = Image.fromarray(padded).rotate(degrees, resample=Image.Resampling.BILINEAR, translate=(dx, dy))
    return np.asarray(moved)[height : 2 * height, width : 2 * width]

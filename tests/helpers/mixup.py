"""Reading mixup batches back: "marked" images whose blends show both partners and the share of each."""

from __future__ import annotations

import numpy as np

MARK = 200  # the one lit pixel's value


def marked_images(count: int) -> np.ndarray:
    """Image k is black but for one pixel of value MARK at position k: a blend of two shows both, and its share."""
    images = np.zeros((count, 32 * 32 * 3), dtype=np.uint8)
    images[np.arange(count), np.arange(count)] = MARK
    return images.reshape(count, 32, 32, 3)


def read_blends(blended: np.ndarray, soft_labels: np.ndarray, one_hot: np.ndarray) -> list[tuple[tuple, float | None]]:
    """(marked images, share of the first) for each blended image, asserting that each one is whole (shares add up
    to 1) and that its label mixes the partners' one-hot labels `one_hot[k]` by their pixel shares.
    The share is None for an image blended with itself."""
    blends = []
    for image, label in zip(blended.reshape(len(blended), -1), soft_labels):
        marked = np.flatnonzero(image)
        assert 1 <= len(marked) <= 2 and np.isclose(image[marked].sum(), MARK, atol=1e-3)  # λ + (1 − λ) = 1
        np.testing.assert_allclose(label, sum(image[k] / MARK * one_hot[k] for k in marked), atol=1e-5)
        blends.append((tuple(marked), float(image[marked[0]] / MARK) if len(marked) == 2 else None))
    return blends

"""A task a tiny CNN learns in seconds, for tests that need a trained classifier: the brightest colour
channel of a noisy image is its class (red, green, blue)."""

from __future__ import annotations

import numpy as np

from cnn_core.training.config import TrainConfig

CLASSES = ["red", "green", "blue"]


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy uint8 images whose dominant colour channel is the label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    images = rng.integers(0, 90, (count, 32, 32, 3))
    images[np.arange(count), :, :, labels] += 150
    return images.astype(np.uint8), labels


def train_colour_model(config: TrainConfig):
    """A model built from `config` and trained on 300 colour images (a few seconds; seeded)."""
    import keras

    from cnn_core.training.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(config, num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    images, labels = colour_images(300, seed=1)
    model.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    return model


def save_colour_model(model, config: TrainConfig, name: str, class_names=CLASSES, **extra) -> str:
    """Save `model` into the registry as `name`, with colour-task metadata; `extra` adds or replaces fields."""
    import keras

    from cnn_core.models import registry

    registry.save_model(model, name, {
        "name": name, "config": config.to_dict(), "class_names": class_names, "dataset": "synthetic colours",
        "created": "2025-01-01T00:00:00+00:00", "keras_version": keras.__version__, **extra,
    })
    return name


def untrained_colour_model(seed: int, filters: tuple[int, ...] = (4, 8)):
    """A small network for the three colour classes, as initialised by `seed` (its softmax far from saturated)."""
    import keras

    from cnn_core.training.model import build_model

    keras.utils.set_random_seed(seed)
    return build_model(TrainConfig(filters=list(filters), batch_norm=False, flip=False), num_classes=3)

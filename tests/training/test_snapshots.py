"""Epoch snapshots: the callback's file against the model it watched (filters, a direct confusion count, Grad-CAM)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnn_core.classify.explain import first_layer_filters, grad_cam_details
from cnn_core.training import snapshots
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model

from helpers.colour_task import colour_images


def pipeline(images, labels, classes=3):
    return tf.data.Dataset.from_tensor_slices((images, tf.one_hot(labels, classes))).batch(32)


def test_every_epoch_leaves_a_snapshot_that_matches_the_model(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(TrainConfig(filters=[4], batch_norm=False, flip=False), num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    train_images, train_labels = colour_images(128, seed=1)
    test_images, test_labels = colour_images(80, seed=2)
    callback = snapshots.snapshot_callback(tmp_path, pipeline(test_images, test_labels))
    model.fit(pipeline(train_images, train_labels), epochs=3, callbacks=[callback], verbose=0)
    saved = snapshots.load_snapshots(tmp_path)
    assert saved["epochs"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(saved["filters"][-1], first_layer_filters(model), atol=2e-3)  # float16
    predicted = keras.ops.convert_to_numpy(model(test_images.astype(np.float32), training=False)).argmax(axis=1)
    direct = np.zeros((3, 3), dtype=int)
    for true, guess in zip(test_labels, predicted):
        direct[true, guess] += 1
    np.testing.assert_array_equal(saved["confusion"][-1], direct)
    assert int(saved["confusion_images"]) == 80
    np.testing.assert_array_equal(saved["images"], test_images[:snapshots.FIXED_IMAGES])
    assert saved["labels"].tolist() == test_labels[:snapshots.FIXED_IMAGES].tolist()
    np.testing.assert_allclose(saved["cams"][-1][0], grad_cam_details(model, test_images[0]).heatmap, atol=2e-3)
    assert saved["probabilities"].shape == (3, snapshots.FIXED_IMAGES, 3)
    assert (tmp_path / snapshots.SNAPSHOT_FILE).stat().st_size < 300_000


def test_long_runs_are_thinned_keeping_the_first_and_the_latest():
    assert snapshots.thin(list(range(1, 6)), limit=5) == [0, 1, 2, 3, 4]
    kept = snapshots.thin(list(range(1, 8)), limit=6)
    assert kept[0] == 0 and kept[-1] == 6 and len(kept) <= 6


def test_a_run_without_snapshots_or_with_a_broken_file_has_none(tmp_path):
    assert snapshots.load_snapshots(tmp_path) is None
    (tmp_path / snapshots.SNAPSHOT_FILE).write_bytes(b"not a zip")
    assert snapshots.load_snapshots(tmp_path) is None


@pytest.mark.parametrize("filters", [[48, 96, 192]])
def test_a_default_sized_run_stays_within_a_few_hundred_kilobytes(tmp_path, filters):
    """Forty epochs of the shipped model's shapes (random values: compression gains nothing)."""
    rng = np.random.default_rng(0)
    records = [{"epoch": epoch, "filters": rng.normal(size=(3, 3, 3, filters[0])).astype(np.float16),
                "confusion": rng.integers(0, 30, (10, 10)).astype(np.int32),
                "probabilities": rng.random((4, 10)).astype(np.float16),
                "cams": rng.random((4, 8, 8)).astype(np.float16)} for epoch in range(1, 41)]
    images, labels = rng.integers(0, 256, (256, 32, 32, 3)).astype(np.uint8), rng.integers(0, 10, 256)
    snapshots.write_snapshots(tmp_path / snapshots.SNAPSHOT_FILE, records, images, labels)
    assert (tmp_path / snapshots.SNAPSHOT_FILE).stat().st_size < 400_000

"""Epoch snapshots: what the network looked like after each epoch, small enough to keep with every run.

After every epoch (`on_epoch_end`, never per batch) the `EpochSnapshots` callback records the first
layer's filters, a confusion matrix on the first CONFUSION_IMAGES validation images, and the prediction and
Grad-CAM map of FIXED_IMAGES fixed validation images, and rewrites `snapshots.npz` in the run folder (temp
file + rename: a reader never sees half a file). Filters, probabilities and maps are float16; with at
most MAX_SNAPSHOTS epochs kept (older ones thinned to every other), a run's file stays a few hundred kB.
The run report's epoch scrubber replays them (`load_snapshots`). They use the validation split (held out from
the training images), never the test split: that one is scored once, by the final model, when training ends.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.atomic import temp_path_for

SNAPSHOT_FILE = "snapshots.npz"
FIXED_IMAGES = 4  # validation images followed through training (prediction + Grad-CAM each epoch)
CONFUSION_IMAGES = 256  # one extra forward pass over this many validation images per epoch: ~0.3 s for the default model
MAX_SNAPSHOTS = 40  # epochs kept; a longer run keeps every other old one, so the file stays small


def _test_sample(test, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (images uint8, labels int) of the ordered test pipeline (one-hot or sparse labels)."""
    images, labels = [], []
    for batch_images, batch_labels in test:
        images.append(np.asarray(batch_images))
        batch_labels = np.asarray(batch_labels)
        labels.append(batch_labels.argmax(axis=-1) if batch_labels.ndim > 1 else batch_labels)
        if sum(len(part) for part in images) >= count:
            break
    if not images:
        return np.zeros((0, 32, 32, 3), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    return np.concatenate(images)[:count].astype(np.uint8), np.concatenate(labels)[:count].astype(np.int64)


def snapshot(model, images: np.ndarray, labels: np.ndarray, fixed: int = FIXED_IMAGES) -> dict[str, np.ndarray]:
    """One epoch's record: filters (k,k,3,n), confusion (C,C), probabilities (fixed,C), cams (fixed,h,w)."""
    from cnn_core.classify.explain import ExplainError, first_layer_filters, grad_cam_details
    from cnn_core.classify.probes import forward
    from cnn_core.training.evaluation import confusion_matrix

    probabilities = forward(model, images)
    classes = probabilities.shape[1]
    cams = []
    for image in images[:fixed]:
        try:
            cams.append(grad_cam_details(model, image).heatmap)
        except ExplainError:  # a model without a convolution to explain: an empty map
            cams.append(np.zeros((1, 1), dtype=np.float32))
    return {"filters": first_layer_filters(model).astype(np.float16),
            "confusion": confusion_matrix(labels, probabilities.argmax(axis=1), classes).astype(np.int32),
            "probabilities": probabilities[:fixed].astype(np.float16),
            "cams": np.stack(cams).astype(np.float16) if cams else np.zeros((0, 1, 1), dtype=np.float16)}


def thin(epochs: list[int], limit: int = MAX_SNAPSHOTS) -> list[int]:
    """Positions to keep when more than `limit` are stored: every other one, the latest always kept."""
    if len(epochs) <= limit:
        return list(range(len(epochs)))
    keep = list(range(0, len(epochs) - 1, 2))
    return keep + [len(epochs) - 1]


def write_snapshots(path: Path, records: list[dict[str, Any]], images: np.ndarray, labels: np.ndarray) -> None:
    """All records as one .npz (arrays stacked over epochs), replacing `path` atomically."""
    arrays = {"epochs": np.array([record["epoch"] for record in records], dtype=np.int32),
              "images": images[:FIXED_IMAGES], "labels": labels[:FIXED_IMAGES],
              "confusion_images": np.array(len(labels), dtype=np.int32)}
    for name in ("filters", "confusion", "probabilities", "cams"):
        arrays[name] = np.stack([record[name] for record in records])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    temp = temp_path_for(path)
    try:
        temp.write_bytes(buffer.getvalue())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def load_snapshots(folder: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a run's snapshots.npz, or None if the run has none (older runs) or it cannot be read."""
    path = Path(folder) / SNAPSHOT_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError):
        return None


def snapshot_callback(folder: Path, test):
    """The Keras callback that writes `folder/snapshots.npz` after every epoch (see EpochSnapshots)."""
    import keras

    class EpochSnapshots(keras.callbacks.Callback):
        """Records `snapshot(...)` on each epoch end; a failure to snapshot never stops training."""

        def __init__(self):
            super().__init__()
            self.records: list[dict[str, Any]] = []
            self.images = self.labels = None

        def on_epoch_end(self, epoch, logs=None):
            try:
                if self.images is None:
                    self.images, self.labels = _test_sample(test, CONFUSION_IMAGES)
                self.records.append({"epoch": epoch + 1, **snapshot(self.model, self.images, self.labels)})
                self.records = [self.records[i] for i in thin([record["epoch"] for record in self.records])]
                write_snapshots(Path(folder) / SNAPSHOT_FILE, self.records, self.images, self.labels)
            except (OSError, ValueError, RuntimeError):  # a full disk or an odd model: the run goes on without
                pass

    return EpochSnapshots()

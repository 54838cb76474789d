"""Scoring a model on a labelled split: accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_core.classify.inference import predict_probabilities, traced_forward

# A model's metadata keeps its confusion matrix up to this many classes (100x100 is ~30 KB of JSON); a
# 1,000-class one would be 9 MB read by every page that lists models. The run's own events keep it whole.
MAX_STORED_CONFUSION_CLASSES = 100


def stored_confusion(matrix: list[list[int]]) -> list[list[int]] | None:
    """The confusion matrix for a model's metadata: as it is, or None beyond MAX_STORED_CONFUSION_CLASSES."""
    return matrix if len(matrix) <= MAX_STORED_CONFUSION_CLASSES else None


def confusion_matrix(true_labels: np.ndarray, predicted_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels, dtype=np.int64), np.asarray(predicted_labels, dtype=np.int64)), 1)
    return matrix


def evaluate_model(
    model, images: np.ndarray, labels: np.ndarray, class_names: list[str], test_time_flip: bool, forward=None
) -> dict[str, Any]:
    """{"accuracy", "per_class_accuracy" {class: accuracy or None}, "confusion_matrix", "predictions", "probabilities"}.

    A class with no images in the split has accuracy None (not 0: nothing was measured). The split goes through
    one traced call (`forward`, made here unless given: pass one to score several splits with one trace).
    """
    forward = forward or traced_forward(model)
    probabilities = predict_probabilities(model, images, test_time_flip, forward=forward)
    predictions = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    matrix = confusion_matrix(labels, predictions, len(class_names))
    per_class = {}
    for index, name in enumerate(class_names):
        total = int(matrix[index].sum())
        per_class[name] = float(matrix[index, index] / total) if total else None
    return {
        "accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "predictions": predictions,
        "probabilities": probabilities,
    }

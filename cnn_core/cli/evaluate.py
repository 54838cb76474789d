"""`python -m cnn_core evaluate --model NAME --data PATH`: score a saved model on a dataset's test split."""

from __future__ import annotations

import argparse
import json

import numpy as np

from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.datasets.loading import load_dataset
from cnn_core.server.owners import load_model_for, model_metadata_for


class CommandError(ValueError):
    """Arguments that make sense one by one but not together (e.g. a model for other classes)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate`."""
    parser.add_argument("--model", required=True, help="registry name of the model")
    parser.add_argument("--data", help="dataset whose test split is scored (same forms as train --data)")
    parser.add_argument("--max-images", type=int, metavar="N", help="score only the first N test images")
    add_visitor_arguments(parser)


def labelled_test_split(metadata: dict, data: str | None, max_images: int | None):
    """(dataset, test images, labels in the model's class order, the model's class names); CommandError on a class mismatch."""
    dataset = load_dataset(data)
    images, labels = dataset.x_test[:max_images], dataset.y_test[:max_images]
    model_classes = list(metadata.get("class_names") or dataset.class_names)
    if set(model_classes) != set(dataset.class_names):
        raise CommandError(
            f"Model {metadata['name']!r} knows the classes {', '.join(model_classes)}, but {dataset.source} "
            f"has {', '.join(dataset.class_names)}."
        )
    # The same class names may come in another order (e.g. class folders); score in the model's order.
    labels = np.asarray([model_classes.index(name) for name in dataset.class_names], dtype=np.int64)[labels]
    return dataset, images, labels, model_classes


def run(args: argparse.Namespace) -> int:
    """Score a saved model on the test split of a dataset; prints JSON with accuracy and per_class."""
    who = visitor_from(args)
    metadata = model_metadata_for(args.model, who)
    dataset, images, labels, model_classes = labelled_test_split(metadata, args.data, args.max_images)
    test_time_flip = bool((metadata.get("config") or {}).get("test_time_flip", False))

    from cnn_core.training.evaluation import evaluate_model  # imported here: it imports TensorFlow

    scores = evaluate_model(load_model_for(args.model, who), images, labels, model_classes, test_time_flip)
    print(json.dumps({
        "model": metadata["name"], "data": dataset.source, "test_images": int(len(labels)),
        "test_time_flip": test_time_flip, "accuracy": scores["accuracy"], "per_class": scores["per_class_accuracy"],
    }), flush=True)
    return 0

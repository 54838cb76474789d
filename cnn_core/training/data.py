"""A run's dataset, as its request names it: loaded, cut to its image limit, its validation split held out.

No TensorFlow here: the training page's run report shows a finished run's test images without importing it.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from cnn_core import i18n
from cnn_core.datasets.base import Dataset, hold_out_validation
from cnn_core.datasets.loading import load_dataset
from cnn_core.training.config import TrainConfig
from cnn_core.training.runs import TrainingError

DOWNLOAD_EVENT_SECONDS = 0.5


def load_request_data(request: dict[str, Any], config: TrainConfig, emit: Callable | None = None) -> Dataset:
    """The run's dataset, cut to `max_images` per split when asked, with its validation split held out.

    The validation images come from the training images (stratified, seeded by the config), never from the
    test split: the test split is scored once, when training has ended.
    """
    last_report = [0.0]
    data = request.get("data") or "cifar10"

    def reporter(unit: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:  # a few "loading" events a second, and the last one
            now = time.monotonic()
            if emit is not None and (now - last_report[0] >= DOWNLOAD_EVENT_SECONDS or done == total):
                last_report[0] = now
                emit({"type": "loading", "data": data, f"{unit}_done": done, f"{unit}_total": total})

        return report

    dataset = load_dataset(request.get("data"), progress=reporter("bytes"), seed=config.seed,
                           decode_progress=reporter("images"))
    limit = request.get("max_images")
    if limit:
        dataset.x_train, dataset.y_train = dataset.x_train[:limit], dataset.y_train[:limit]
        dataset.x_test, dataset.y_test = dataset.x_test[:limit], dataset.y_test[:limit]
        dataset.about = i18n.Message("datasets.first_images", {"source": dataset.about, "limit": limit})
    if len(dataset.y_train) == 0 or len(dataset.y_test) == 0:
        raise TrainingError("empty_split", source=dataset.about)
    if dataset.num_classes < 2:
        raise TrainingError("one_class", source=dataset.about)
    config.validate(num_classes=dataset.num_classes)  # the output layer grows with the class count
    return hold_out_validation(dataset, config.validation_fraction, config.seed)



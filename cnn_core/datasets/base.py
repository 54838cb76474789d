"""What every dataset is: uint8 images with labels in two splits, the error for data we cannot read,
and the limits and folders that any way of loading images shares.

Everything stays uint8 until the model rescales it: full CIFAR-10 is 184 MB as uint8 but 737 MB as
float32, and Streamlit Community Cloud has little memory. Nothing in `cnn_core.datasets` imports
TensorFlow, so loading runs before (and without) the 0.5 GB Keras import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cnn_core import i18n, paths
from cnn_core.datasets.uploads import original_name
from cnn_core.i18n import TranslatableError
from cnn_core.settings import public_mode

MAX_CLASSES = 1000  # a dataset or an imported model with more classes is refused
ProgressCallback = Callable[[int, int], None]  # (done, total), e.g. bytes downloaded


class DataError(TranslatableError, ValueError):
    """A dataset that cannot be found, downloaded or read; the message says what to do."""

    section = "errors.data"


@dataclass
class Dataset:
    """Images as uint8 (N, 32, 32, 3), labels as int64 (N,): training, validation (held out) and test splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    about: i18n.Message  # where the images came from, in any language (locales/*/datasets.toml)
    skipped_files: list[str] = field(default_factory=list)  # unreadable images left out (class folders)
    # Held out from the training images by `hold_out_validation` (empty until then).
    x_val: np.ndarray = field(default_factory=lambda: np.zeros((0, 32, 32, 3), dtype=np.uint8))
    y_val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def source(self) -> str:
        """Where the images came from, in English: "CIFAR-10 subset at ... (5,085 train / 509 test)"."""
        return self.about.text("en")

    @property
    def num_classes(self) -> int:
        """Number of classes (length of class_names)."""
        return len(self.class_names)


def location_name(location: str | Path) -> str:
    """How a dataset's place is named in its description: the file or folder's own name, never the server path
    that leads to it (a shared server's visitors see descriptions in reports, model cards and class results)."""
    return original_name(Path(location))


def check_allowed(path: Path) -> None:
    """Refuse a path outside the server's data roots (paths.data_roots), before saying whether it exists.

    In public mode the safe default applies: without CNN_STUDIO_DATA_ROOTS only data_dir() (uploads, downloads).
    """
    roots = paths.data_roots()
    if roots is None and public_mode():
        roots = [paths.data_dir()]
    if roots is None:
        return
    resolved = path.resolve()  # symlinks and ".." cannot lead out of a root
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise DataError("outside_data_roots", path=str(path))


def allowed(path: Path) -> bool:
    """Whether this server lets visitors read datasets at `path` (check_allowed)."""
    try:
        check_allowed(path)
    except DataError:
        return False
    return True


def default_location() -> Path | None:
    """The local CIFAR-10 folder offered before anything is chosen, one this server lets visitors read: data_dir()'s,
    else the subset beside a development checkout; None: offer the download (a public server's visitors must not
    meet a refused path the moment they open the training page)."""
    candidates = (paths.data_dir() / "cifar-10-batches-py", paths.SHARED_SUBSET)
    return next((path for path in candidates if path.exists() and allowed(path)), None)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out images: `fraction` of each class (at least 1 if it has 2+ images), seeded."""
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(labels), dtype=bool)
    if fraction <= 0:
        return held_out
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(fraction * len(members)))
        count = min(max(count, 1), len(members) - 1) if len(members) >= 2 else 0
        held_out[members[:count]] = True
    return held_out


def hold_out_validation(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """Move `fraction` of the training images (per class, seeded) into the validation split; test is untouched."""
    held_out = stratified_holdout(dataset.y_train, fraction, seed)
    dataset.x_val, dataset.y_val = dataset.x_train[held_out], dataset.y_train[held_out]
    dataset.x_train, dataset.y_train = dataset.x_train[~held_out], dataset.y_train[~held_out]
    return dataset

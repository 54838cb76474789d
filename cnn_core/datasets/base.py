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
from cnn_core.i18n import TranslatableError
from cnn_core.server.settings import public_mode

MAX_CLASSES = 1000  # a dataset or an imported model with more classes is refused
ProgressCallback = Callable[[int, int], None]  # (done, total), e.g. bytes downloaded


class DataError(TranslatableError, ValueError):
    """A dataset that cannot be found, downloaded or read; the message says what to do."""

    section = "errors.data"


@dataclass
class Dataset:
    """Images as uint8 (N, 32, 32, 3), labels as int64 (N,); for class folders "test" is the validation split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    about: i18n.Message  # where the images came from, in any language (locales/*/datasets.toml)
    skipped_files: list[str] = field(default_factory=list)  # unreadable images left out (class folders)

    @property
    def source(self) -> str:
        """Where the images came from, in English: "CIFAR-10 subset at ... (5,085 train / 509 test)"."""
        return self.about.text("en")

    @property
    def num_classes(self) -> int:
        """Number of classes (length of class_names)."""
        return len(self.class_names)


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

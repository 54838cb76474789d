"""`load_dataset`: one entry point for every dataset a person can name (see its docstring)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from cnn_core import i18n
from cnn_core.datasets.base import DataError, Dataset, ProgressCallback, check_allowed
from cnn_core.datasets.cifar import download_cifar10, find_cifar_folder, load_cifar_batches
from cnn_core.datasets.folders import load_image_folders


def load_dataset(
    spec: str | Path | None,
    *,
    progress: ProgressCallback | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
    decode_progress: ProgressCallback | None = None,
) -> Dataset:
    """Load CIFAR-10 or a class-folder collection, whichever `spec` names.

    - None or "cifar10": the official archive, downloaded once into Keras' cache (`~/.keras/datasets/`,
      the same file `keras.datasets.cifar10.load_data()` uses);
    - a `cifar-10-batches-py` folder (or its parent) or a `cifar-10-python.tar.gz`, with any number of
      rows per batch;
    - a class-folder root `root/<class>/*.png|jpg` or a .zip of one (see `cnn_core.datasets.folders`).

    `progress(bytes_done, bytes_total)` follows a download, `decode_progress(images_done, images_total)` the
    decoding of class folders.
    """
    if names_the_download(spec):
        location = download_cifar10(progress=progress)
        dataset = load_cifar_batches(location)
        dataset.about = i18n.Message("datasets.official", {"train": len(dataset.y_train), "test": len(dataset.y_test)})
        return dataset
    try:
        return _load_path(Path(spec).expanduser(), validation_fraction, seed, decode_progress)
    except OSError as error:  # a name too long for the disk, a special file that refuses reads, ...
        raise DataError("unreadable_path", path=str(spec), reason=error.strerror or type(error).__name__) from None


def names_the_download(spec: str | Path | None) -> bool:
    """Whether `spec` asks for the official CIFAR-10 download rather than a path on the server."""
    return spec is None or str(spec).strip().lower() in ("", "cifar10", "cifar-10")


def check_spec_allowed(spec: str | Path | None) -> None:
    """DataError unless `spec` names the download or a path within the server's data roots (base.check_allowed)."""
    if not names_the_download(spec):
        check_allowed(Path(spec).expanduser())


def _load_path(path: Path, validation_fraction: float, seed: int,
               decode_progress: ProgressCallback | None = None) -> Dataset:
    """A dataset at a path on the server (see `load_dataset`); OSError for what the system refuses."""
    check_allowed(path)
    if path.resolve().parts[1:2] in (("proc",), ("sys",), ("dev",)):  # the kernel's files, never a dataset
        raise DataError("not_file_or_folder", path=str(path))
    if not path.exists():
        raise DataError("no_such_path", path=str(path))
    if not (path.is_file() or path.is_dir()):  # a device or a pipe: reading it could block forever
        raise DataError("not_file_or_folder", path=str(path))
    if path.is_file():
        if path.suffix.lower() == ".zip":
            return load_image_folders(path, validation_fraction=validation_fraction, seed=seed, progress=decode_progress)
        if tarfile.is_tarfile(path):
            return load_cifar_batches(path)
        raise DataError("unknown_file_kind", name=path.name)
    cifar_folder = find_cifar_folder(path)
    if cifar_folder is not None:
        return load_cifar_batches(cifar_folder)
    return load_image_folders(path, validation_fraction=validation_fraction, seed=seed, progress=decode_progress)

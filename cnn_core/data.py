"""Datasets: CIFAR-10 (downloaded, or a local copy of any size) and class-folder image collections.

Everything stays uint8 until the model rescales it: full CIFAR-10 is 184 MB as uint8 but 737 MB as
float32, and Streamlit Community Cloud has little memory. This module never imports TensorFlow, so the
download and loading run before (and without) the 0.5 GB Keras import.

`load_dataset` accepts:
- None or "cifar10": the official archive, downloaded once into Keras' cache (`~/.keras/datasets/`,
  the same file `keras.datasets.cifar10.load_data()` uses);
- a `cifar-10-batches-py` folder (or its parent) or a `cifar-10-python.tar.gz`, with any number of
  rows per batch;
- a class-folder root `root/<class>/*.png|jpg` or a .zip of one (see `cnn_core.image_folders`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

import numpy as np

from cnn_core import i18n, paths
from cnn_core.i18n import TranslatableError


class DataError(TranslatableError, ValueError):
    """A dataset that cannot be found, downloaded or read; the message says what to do."""

    section = "errors.data"


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# The official archive and its SHA-256, as in Keras' `keras/src/datasets/cifar10.py`.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
# Keras 3 stores the download under this name (get_file(fname="cifar-10-batches-py-target", extract=True)).
KERAS_ARCHIVE_NAME = "cifar-10-batches-py-target_archive"
KERAS_EXTRACTED = ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py")  # Keras 3, Keras 2
DOWNLOAD_CHUNK = 1 << 20

ProgressCallback = Callable[[int, int], None]


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


def load_dataset(
    spec: str | Path | None,
    *,
    progress: ProgressCallback | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Load CIFAR-10 (download, folder, tar.gz) or a class-folder collection (folder or .zip)."""
    if spec is None or str(spec).strip().lower() in ("", "cifar10", "cifar-10"):
        location = download_cifar10(progress=progress)
        dataset = load_cifar_batches(location)
        dataset.about = i18n.Message("datasets.official", {"train": len(dataset.y_train), "test": len(dataset.y_test)})
        return dataset
    path = Path(spec).expanduser()
    _check_allowed(path)
    if not path.exists():
        raise DataError("no_such_path", path=str(path))
    if not (path.is_file() or path.is_dir()):  # a device or a pipe: reading it could block forever
        raise DataError("not_file_or_folder", path=str(path))
    if path.is_file():
        if path.suffix.lower() == ".zip":
            # Imported here: image_folders imports this module (and Pillow, which CIFAR does not need).
            from cnn_core.image_folders import load_image_folders

            return load_image_folders(path, validation_fraction=validation_fraction, seed=seed)
        if tarfile.is_tarfile(path):
            return load_cifar_batches(path)
        raise DataError("unknown_file_kind", name=path.name)
    cifar_folder = _find_cifar_folder(path)
    if cifar_folder is not None:
        return load_cifar_batches(cifar_folder)
    from cnn_core.image_folders import load_image_folders

    return load_image_folders(path, validation_fraction=validation_fraction, seed=seed)


# --- CIFAR-10 in the official python format (a folder or the .tar.gz). ---

_BATCH_NAME = re.compile(r"^(data_batch_(\d+)|test_batch|batches\.meta)$")


def _find_cifar_folder(path: Path) -> Path | None:
    """`path` itself if it holds CIFAR batches, or its `cifar-10-batches-py` child; else None."""
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / "test_batch").is_file() and any(candidate.glob("data_batch_*")):
            return candidate
    return None


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: dicts, lists, bytes and NumPy arrays; no other code can run."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core") :]  # NumPy 2 moved numpy.core
        return super().find_class(module, name)


def _read_pickle(file: IO[bytes], name: str) -> dict:
    try:
        content = _CifarUnpickler(file, encoding="bytes").load()
    except Exception as error:  # any corrupt or foreign file; the message names it
        raise DataError("unreadable_batch", name=name, reason=str(error)) from None
    if not isinstance(content, dict):
        raise DataError("batch_not_a_dict", name=name)
    return content


def _batch_arrays(content: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n,32,32,3), labels int64 (n,)) from one unpickled batch of any length."""
    try:
        data = np.asarray(content[b"data"], dtype=np.uint8)
        labels = np.asarray(content[b"labels"], dtype=np.int64)
    except KeyError as missing:
        raise DataError("batch_entry_missing", name=name, entry=repr(missing.args[0])) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError("batch_shape", name=name, rows=str(data.shape), labels=str(labels.shape))
    # Each row is three 32x32 colour planes (R, G, B); the model wants height x width x channel.
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def _check_allowed(path: Path) -> None:
    """Refuse a path outside the server's data roots (paths.data_roots), before saying whether it exists."""
    roots = paths.data_roots()
    if roots is None:
        return
    resolved = path.resolve()  # symlinks and ".." cannot lead out of a root
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise DataError("outside_data_roots", path=str(path))


def load_cifar_batches(location: Path) -> Dataset:
    """Read `data_batch_*`, `test_batch` and `batches.meta` from a folder or a .tar(.gz) archive."""
    location = Path(location)
    # Each batch becomes uint8 images at once, so the raw pickled rows never pile up in memory.
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    meta: dict = {}

    def take(name: str, file: IO[bytes]) -> None:
        content = _read_pickle(file, name)
        if name == "batches.meta":
            meta.update(content)
        else:
            arrays[name] = _batch_arrays(content, name)

    if location.is_dir():
        for file in sorted(location.iterdir()):
            if _BATCH_NAME.match(file.name) and file.is_file():
                with open(file, "rb") as handle:
                    take(file.name, handle)
    else:
        try:
            with tarfile.open(location, "r:*") as archive:
                # Members are read in memory, never extracted, so odd paths in the archive are harmless.
                for member in archive:
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and _BATCH_NAME.match(base) and base not in arrays:
                        take(base, archive.extractfile(member))
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError("unreadable_archive", name=location.name, reason=str(error)) from None

    train_names = sorted((name for name in arrays if name.startswith("data_batch_")), key=lambda n: int(n[11:]))
    if not train_names or "test_batch" not in arrays:
        raise DataError("no_batches", path=str(location))
    x_test, y_test = arrays.pop("test_batch")
    train = [arrays.pop(name) for name in train_names]
    class_names = list(CIFAR10_CLASSES)
    if b"label_names" in meta:
        class_names = [bytes(name).decode("utf-8") for name in meta[b"label_names"]]
    y_train = np.concatenate([labels for _, labels in train])
    for labels in (y_train, y_test):
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DataError("labels_out_of_range", path=str(location), highest=len(class_names) - 1)
    full = len(y_train) == 50_000 and len(y_test) == 10_000
    return Dataset(
        x_train=np.concatenate([images for images, _ in train]) if len(train) > 1 else train[0][0],
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        about=i18n.Message("datasets.cifar_full" if full else "datasets.cifar_subset",
                           {"location": str(location), "train": len(y_train), "test": len(y_test)}),
    )


# --- The official download, shared with Keras' cache. ---


def keras_cache_dir() -> Path:
    """`$KERAS_HOME/datasets` or `~/.keras/datasets` (`/tmp/.keras/datasets` if home is read-only), as Keras."""
    if "KERAS_HOME" in os.environ:
        base = Path(os.environ["KERAS_HOME"])
    else:
        home = Path(os.path.expanduser("~"))
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    return base / "datasets"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_cifar10(
    progress: ProgressCallback | None = None, url: str = CIFAR10_URL, timeout: float = 30.0
) -> Path:
    """The CIFAR-10 batches in Keras' cache (a folder or the archive), downloading them if needed.

    `progress(bytes_done, bytes_total)` is called as the download proceeds (bytes_total is 0 when
    the server does not say). Raises DataError when offline or when the file is corrupt.
    """
    cache = keras_cache_dir()
    for relative in KERAS_EXTRACTED:
        if _find_cifar_folder(cache / relative) is not None:
            return cache / relative
    archive = cache / KERAS_ARCHIVE_NAME
    if archive.is_file() and _sha256(archive) == CIFAR10_SHA256:
        return archive

    cache.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + f".{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            if progress:
                progress(0, total)
            while chunk := response.read(DOWNLOAD_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise DataError("download_failed", url=url, reason=str(reason)) from None
    if digest.hexdigest() != CIFAR10_SHA256:
        partial.unlink(missing_ok=True)
        raise DataError("download_corrupted", url=url)
    os.replace(partial, archive)  # atomic: a half-written download never looks complete
    return archive

"""CIFAR-10 in its official python format: a `cifar-10-batches-py` folder or the .tar.gz, and the download.

Batches are unpickled with an allow-list (dicts, bytes and NumPy arrays only), so a foreign file
cannot run code, and any number of rows per batch is accepted (the shared subset has 5,085 + 509).
The download lands in Keras' own cache, so `keras.datasets.cifar10.load_data()` finds it too.
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
from pathlib import Path
from typing import IO

import numpy as np

from cnn_core import i18n
from cnn_core.datasets.base import DataError, Dataset, ProgressCallback, location_name

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# The official archive and its SHA-256, as in Keras' `keras/src/datasets/cifar10.py`.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
# Keras 3 stores the download under this name (get_file(fname="cifar-10-batches-py-target", extract=True)).
KERAS_ARCHIVE_NAME = "cifar-10-batches-py-target_archive"
KERAS_EXTRACTED = ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py")  # Keras 3, Keras 2
DOWNLOAD_CHUNK = 1 << 20


# --- CIFAR-10 in the official python format (a folder or the .tar.gz). ---

_BATCH_NAME = re.compile(r"^(data_batch_(\d+)|test_batch|batches\.meta)$")


def find_cifar_folder(path: Path) -> Path | None:
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


def load_cifar_batches(location: Path) -> Dataset:
    """Read `data_batch_*`, `test_batch` and `batches.meta` from a folder or a .tar(.gz) archive."""
    location = Path(location)
    arrays, meta = _read_batches(location)
    train_names = sorted((name for name in arrays if name.startswith("data_batch_")), key=lambda n: int(n[11:]))
    if not train_names or "test_batch" not in arrays:
        raise DataError("no_batches", path=location_name(location))
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
                           {"location": location_name(location), "train": len(y_train), "test": len(y_test)}),
    )


def _read_batches(location: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """({batch name: (images, labels)}, batches.meta) from a folder or an archive."""
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
        return arrays, meta
    try:
        with tarfile.open(location, "r:*") as archive:
            # Members are read in memory, never extracted, so odd paths in the archive are harmless.
            for member in archive:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and _BATCH_NAME.match(base) and base not in arrays:
                    take(base, archive.extractfile(member))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError("unreadable_archive", name=location.name, reason=str(error)) from None
    return arrays, meta


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
        if find_cifar_folder(cache / relative) is not None:
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

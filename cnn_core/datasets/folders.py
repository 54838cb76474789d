"""Class-folder image collections (`root/<class>/*.png|jpg`), from a folder or read straight from a .zip.

This is the seed tutorial's dataset layout. Images are decoded safely, centre-cropped to a square (as
the classify page does by default) and resized to 32x32 uint8. A zip is never extracted: members are
read in memory, and an archive with absolute or `..` paths is refused outright, so nothing is ever
written anywhere. Optional `train/` and `test/` (or `val/`, `validation/`) top folders are used as
the splits; otherwise a validation split is drawn per class (stratified) with a fixed seed.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from cnn_core import i18n
from cnn_core.datasets.base import MAX_CLASSES, DataError, Dataset, ProgressCallback, location_name, stratified_holdout
from cnn_core.images import load_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "test", "validation": "test"}
MAX_IMAGE_BYTES = 32 << 20  # larger members are not small training images (or are zip bombs)
# A dataset, not a whole disk: a path like "/" or a zip bomb is refused instead of read for hours.
MAX_FILES = 250_000  # files listed (images or not) in one folder tree or zip
MAX_TOTAL_BYTES = 4 << 30  # image bytes read from one dataset, after decompression
IMAGE_SIZE = 32
# Pixels cost CPU, not bytes: 200 copies of a flat 49-megapixel PNG zip to 2.8 MB yet took 69 s to decode.
# Every image becomes 32x32, so a training picture never needs more than 16 megapixels (a 4096x4096 photo),
# and a whole dataset at most 1 gigapixel decoded (~10 s on one core; CIFAR-10's 60,000 images are 61 MP).
MAX_IMAGE_PIXELS = 16_000_000
MAX_DATASET_PIXELS = 1_000_000_000
PIXEL_REFUSALS = ("too_many_pixels",)  # these end the intake; a single image over the limit is skipped

Entry = tuple[tuple[str, ...], Callable[[], bytes]]  # (path parts, read the file's bytes)


def load_image_folders(path: Path, *, validation_fraction: float = 0.2, seed: int = 0,
                       progress: ProgressCallback | None = None) -> Dataset:
    """A Dataset from a class-folder root or a .zip of one; without train/test folders, a test split is drawn.

    `progress(images_done, images_total)` follows the decoding (the slow part of a large collection).
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError("bad_validation_fraction", value=validation_fraction)
    path = Path(path)
    if path.is_dir():
        entries = _folder_entries(path)
        return _build(entries, str(path), validation_fraction, seed, progress)
    name = location_name(path)  # the name the visitor uploaded, not the stored one with its content hash
    try:
        with zipfile.ZipFile(path) as archive:
            entries = _zip_entries(archive, name)
            return _build(entries, str(path), validation_fraction, seed, progress)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise DataError("unreadable_zip", name=name, reason=str(error)) from None


# --- Listing images. ---


def _is_image_name(parts: tuple[str, ...]) -> bool:
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in parts)
    return not hidden and parts[-1].lower().endswith(IMAGE_SUFFIXES)


def _folder_entries(root: Path) -> list[Entry]:
    entries, seen = [], 0
    # os.walk does not follow symlinked folders; symlinked files are skipped below. Either could point
    # anywhere on the server, so only plain files really inside the root count.
    for folder, subfolders, files in os.walk(root, followlinks=False):
        seen += len(files) + len(subfolders)
        if seen > MAX_FILES:
            raise DataError("folder_too_many_files", path=location_name(root), limit=MAX_FILES)
        for name in files:
            file = Path(folder, name)
            parts = file.relative_to(root).parts
            if _is_image_name(parts) and not file.is_symlink() and file.is_file():
                entries.append((parts, _file_reader(file)))
    return sorted(entries, key=lambda entry: entry[0])


def _file_reader(file: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(file, "rb") as handle:
            return _read_capped(handle, file.name)  # never a whole multi-gigabyte file

    return read


def _read_capped(handle, name: str) -> bytes:
    """At most MAX_IMAGE_BYTES from an open file; DataError if there is more."""
    data = handle.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise DataError("image_too_large", name=name, megabytes=MAX_IMAGE_BYTES >> 20)
    return data


def _zip_entries(archive: zipfile.ZipFile, archive_name: str) -> list[Entry]:
    infos = archive.infolist()
    if len(infos) > MAX_FILES:
        raise DataError("zip_too_many_files", name=archive_name, limit=MAX_FILES)
    entries, declared = [], 0
    # A slash separates folders (the zip format's rule) and a backslash is part of a name, except in Windows' own
    # zips (PowerShell 5.1's Compress-Archive), which separate with backslashes: an archive with no slash at all is
    # read their way. orig_filename is the name as stored (on Windows, Python turns backslashes into slashes).
    legacy = not any("/" in info.orig_filename for info in infos)
    for info in infos:
        name = info.orig_filename.replace("\\", "/") if legacy else info.orig_filename
        parts = PurePosixPath(name).parts
        either = name.replace("\\", "/").split("/")  # ".." between either separator is refused all the same
        if name.startswith(("/", "\\")) or ".." in either or (parts and ":" in parts[0]):
            raise DataError("unsafe_path", name=archive_name, member=repr(info.filename[:200]))
        if info.is_dir() or not _is_image_name(parts):
            continue
        declared += info.file_size
        entries.append((parts, _zip_reader(archive, info)))
    if declared > MAX_TOTAL_BYTES:
        raise DataError("zip_too_large", name=archive_name, gigabytes=declared / 2**30, limit=MAX_TOTAL_BYTES / 2**30)
    return sorted(entries, key=lambda entry: entry[0])


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > MAX_IMAGE_BYTES:
            raise DataError("image_too_large", name=info.filename, megabytes=MAX_IMAGE_BYTES >> 20)
        with archive.open(info) as member:
            return _read_capped(member, info.filename)  # the declared size could lie

    return read


def _strip_wrappers(entries: list[Entry]) -> list[Entry]:
    """Drop a single top folder shared by every image (a zip of `flowers/<class>/…`), while images stay in class folders."""
    while entries and all(len(parts) >= 3 for parts, _ in entries):
        tops = {parts[0] for parts, _ in entries}
        if len(tops) != 1 or next(iter(tops)).lower() in SPLIT_FOLDERS:
            break
        entries = [(parts[1:], read) for parts, read in entries]
    return entries


# --- Decoding. ---


def _header_pixels(data: bytes, name: str) -> int:
    """Width x height from the image's header alone (nothing decoded); DataError above MAX_IMAGE_PIXELS.

    A file whose header cannot be read counts 0 here: decoding it fails next, and it is skipped as unreadable.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - hostile headers raise anything; _decode reports the file as unreadable
        return 0
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError("image_too_many_pixels", name=name[-80:], megapixels=f"{width * height / 1e6:.3g}",
                        limit=MAX_IMAGE_PIXELS // 1_000_000)
    return width * height


def _decode(data: bytes) -> np.ndarray:
    """32x32x3 uint8 from image bytes: the app's hardened loader, centre-cropped to a square, then shrunk."""
    image = load_image(data)
    side = min(image.size)
    image = ImageOps.fit(image, (side, side), method=Image.Resampling.BICUBIC)  # centre crop
    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)  # antialiased
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


# --- Building the dataset. ---


def _build(entries: list[Entry], where: str, validation_fraction: float, seed: int,
           progress: ProgressCallback | None = None) -> Dataset:
    """Decode every image under a class folder and split them (split folders if present, else stratified)."""
    entries = _strip_wrappers(entries)
    if not entries:
        raise DataError("no_images", path=location_name(where))
    tops = {parts[0].lower() for parts, _ in entries if len(parts) >= 3}
    use_split_folders = bool("train" in tops and tops & {"test", "val", "validation"} and tops <= set(SPLIT_FOLDERS))
    decoded = _decode_all(entries, where, offset=1 if use_split_folders else 0, progress=progress)
    class_names = _check_classes(decoded, where)
    images, labels_by_name, splits, skipped = decoded
    x = np.stack(images)
    y = np.array([class_names.index(name) for name in labels_by_name], dtype=np.int64)
    if use_split_folders:
        is_test = np.array([split == "test" for split in splits])
    else:
        is_test = stratified_holdout(y, validation_fraction, seed)
    about = i18n.Message("datasets.folders" if use_split_folders else "datasets.folders_validation",
                         {"classes": len(class_names), "location": location_name(where),
                          "train": int((~is_test).sum()), "test": int(is_test.sum())})
    if skipped:
        shown = ", ".join(name[-80:] for name in skipped[:3]) + (", …" if len(skipped) > 3 else "")
        about = i18n.Message("datasets.with_skipped", {"source": about, "count": len(skipped), "names": shown})
    return Dataset(x_train=x[~is_test], y_train=y[~is_test], x_test=x[is_test], y_test=y[is_test],
                   class_names=class_names, about=about, skipped_files=skipped)


UNREADABLE = (ValueError, OSError, SyntaxError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
              RuntimeError, Image.DecompressionBombError, Image.DecompressionBombWarning)


PROGRESS_EVERY = 64  # images between progress reports while decoding


def _decode_all(entries: list[Entry], where: str, offset: int,
                progress: ProgressCallback | None = None) -> tuple[list, list, list, list]:
    """(32x32 images, class name of each, split of each, paths skipped as unreadable)."""
    images, labels_by_name, splits, skipped = [], [], [], []
    total_bytes, total_pixels = 0, 0
    for index, (parts, read) in enumerate(entries):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index, len(entries))
        if len(parts) < offset + 2:
            continue  # loose images beside the class folders have no class
        try:
            data = read()
            total_bytes += len(data)
            total_pixels += _header_pixels(data, "/".join(parts))
            if total_pixels > MAX_DATASET_PIXELS:
                raise DataError("too_many_pixels", path=location_name(where), limit=MAX_DATASET_PIXELS // 1_000_000)
            pixels = _decode(data) if total_bytes <= MAX_TOTAL_BYTES else None
        except DataError as error:
            if error.reason in PIXEL_REFUSALS:  # the dataset refused whole, before any more decoding
                raise
            skipped.append("/".join(parts))  # one member too large or too many pixels: left out, like a damaged one
            continue
        except UNREADABLE:
            # Damaged members, unsupported compression methods and encrypted members (RuntimeError) alike.
            skipped.append("/".join(parts))
            continue
        if pixels is None:
            raise DataError("too_much_to_load", path=location_name(where), limit=MAX_TOTAL_BYTES / 2**30)
        images.append(pixels)
        labels_by_name.append(parts[offset])
        splits.append(SPLIT_FOLDERS[parts[0].lower()] if offset else "")
    if progress is not None:
        progress(len(entries), len(entries))
    return images, labels_by_name, splits, skipped


def _check_classes(decoded: tuple[list, list, list, list], where: str) -> list[str]:
    """The sorted class names, after refusing too many classes, no readable image, or a single class."""
    images, labels_by_name, _, skipped = decoded
    class_names = sorted(set(labels_by_name))
    if len(class_names) > MAX_CLASSES:
        raise DataError("too_many_classes", path=location_name(where), classes=len(class_names), limit=MAX_CLASSES)
    if not images:
        if skipped:
            raise DataError("no_readable_images_skipped", path=location_name(where), skipped=len(skipped))
        raise DataError("no_readable_images", path=location_name(where))
    if len(class_names) < 2:
        raise DataError("one_class", name=repr(class_names[0]), path=location_name(where))
    return class_names

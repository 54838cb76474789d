"""Class-folder datasets written by the tests: solid-colour pictures in class folders, as a tree or a zip.

Used by tests/datasets/test_cifar.py and tests/datasets/test_folders.py.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image


def picture(colour=(10, 20, 30), size=(12, 10), fmt="PNG", mode="RGB") -> bytes:
    """One solid-colour image, encoded."""
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def class_files(colours: dict[str, tuple], per_class: int, size=(12, 10), mixed: bool = False) -> dict[str, bytes]:
    """Relative path -> bytes: `per_class` solid-colour pictures in a folder per class of `colours`.

    All PNGs of `size`; with `mixed`, every odd index is a JPEG (.jpg) and image `index` is `index` pixels wider.
    """
    files = {}
    for name, colour in colours.items():
        for index in range(per_class):
            fmt = "JPEG" if mixed and index % 2 else "PNG"
            width = size[0] + index if mixed else size[0]
            files[f"{name}/{index}.{fmt.lower().replace('jpeg', 'jpg')}"] = picture(colour, (width, size[1]), fmt)
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def write_zip(path: Path, files: dict[str, bytes], infos: dict[str, zipfile.ZipInfo] | None = None,
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of `files`; a name in `infos` is written with that ZipInfo (and its own compression) instead."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr((infos or {}).get(name, name), content)
    return path

"""Datasets people upload (a zip of class folders): kept on the server's disk, named by their content."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

from cnn_core import atomic, paths

STORED_NAME = re.compile(r"^[0-9a-f]{12}-(.+)$")  # <content hash>-<the visitor's file name>
KEPT_UPLOADS = 10  # each may be 20 MB; older ones can simply be uploaded again ...
KEPT_SECONDS = 12 * 3600  # ... once no queued run can still need them (a class's queue drains within hours)
REFRESH_SECONDS = 3600  # a re-upload older than this counts as a new use


def folder() -> Path:
    """Where uploaded datasets are kept: data_dir()/uploads."""
    return paths.data_dir() / "uploads"


def is_upload(path: Path) -> bool:
    """Whether `path` is a dataset kept by `store_upload` (stored by content: it never changes)."""
    return Path(path).parent == folder()


def store_upload(file_name: str, content: bytes) -> Path:
    """Keep an uploaded dataset under data_dir()/uploads, named by its content (re-uploads are free)."""
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(file_name).name)[-60:] or "upload"
    target = folder() / f"{hashlib.sha256(content).hexdigest()[:12]}-{safe_name}"
    if target.exists():
        if time.time() - target.stat().st_mtime > REFRESH_SECONDS:
            target.touch()  # in use again: the last to be pruned (not each time: summaries are keyed by its mtime)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = atomic.temp_path_for(target)  # unique: two sessions may upload the same file at once
        try:
            partial.write_bytes(content)
            partial.replace(target)  # atomic: a half-written file never carries the final name
        finally:
            partial.unlink(missing_ok=True)
    _prune_uploads(target.parent, keep=target)
    return target


def _prune_uploads(folder: Path, keep: Path) -> None:
    """Delete the datasets beyond the newest KEPT_UPLOADS that nobody used for KEPT_SECONDS (never `keep`, the one
    just stored): a class uploading thirty zips must not delete the one their queued runs train on."""
    files = sorted((path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")),
                   key=lambda path: path.stat().st_mtime, reverse=True)
    for path in files[KEPT_UPLOADS:]:
        if path != keep and time.time() - path.stat().st_mtime > KEPT_SECONDS:
            path.unlink(missing_ok=True)


def original_name(path: Path) -> str:
    """The file name the visitor uploaded (as stored: unusual characters became `_`), without the content hash."""
    match = STORED_NAME.match(path.name)
    return match.group(1) if match and is_upload(path) else path.name

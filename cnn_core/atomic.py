"""Writing files so that a reader never sees half of one: temp file in the same folder, then os.replace.

`os.replace` is atomic on POSIX and Windows when source and target share a file system, which a temp
file in the target's own folder guarantees. Readers therefore see either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import psutil


def temp_path_for(target: Path, suffix: str = "") -> Path:
    """A hidden, unique temp path beside `target` (same folder, so os.replace stays atomic)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def fsync_file(path: Path) -> None:
    """Flush a written file to disk, so a crash right after os.replace cannot leave it empty."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _json_default(value: Any) -> Any:
    # NumPy scalars and arrays reach us from metrics; JSON has no type for them.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json_file(path: Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` (normally a temp path) and flush it to disk."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=_json_default)
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    path = Path(path)
    temp = temp_path_for(path)
    try:
        write_json_file(temp, data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def fsync_directory(folder: Path) -> None:
    """Make renames inside `folder` durable (POSIX; a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files in `folder` left by processes that died mid-write (killed, power cut); returns them."""
    removed = []
    for path in Path(folder).iterdir():
        match = TEMP_NAME.match(path.name)
        if match and not psutil.pid_exists(int(match.group(1))) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def read_json(path: Path) -> Any:
    """Parse a JSON file (raises OSError or json.JSONDecodeError)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def to_json_line(data: dict) -> str:
    """One compact JSON line (NumPy values converted), newline included."""
    return json.dumps(data, separators=(",", ":"), default=_json_default) + "\n"

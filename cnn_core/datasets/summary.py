"""What the training page shows of a dataset before training: sizes, class names, 8 sample images.

Shared by every visitor of a server: a class often opens the same zip or folder at the same minute, so
one summary is computed once and handed to all of them. A plain dictionary under a lock, not Streamlit's
`st.cache_data`: that cache replays what a cached function drew, and a progress bar drawn into the
caller's page cannot be replayed in another visitor's page (Streamlit raises CacheReplayClosureError).
Here the caller's `progress` callback is only ever called while the summary is really being computed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.datasets import loading
from cnn_core.datasets.base import ProgressCallback

MAX_KEPT = 8  # summaries kept server-wide (each holds 8 small images)
SAMPLES = 8
_KEPT: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_LOCKS: dict[tuple, threading.Lock] = {}
_GUARD = threading.Lock()  # guards _KEPT and _LOCKS themselves


def _key(spec: str) -> tuple:
    """The spec and its file's size and time, so a folder or archive changed on disk is read again."""
    try:
        stat = Path(spec).expanduser().stat()
        return spec, stat.st_size, stat.st_mtime_ns
    except (OSError, ValueError):
        return spec, None, None


def summarize(spec: str, progress: ProgressCallback | None = None) -> dict[str, Any]:
    """{"train", "test", "classes", "samples"} of the dataset `spec` names (DataError if it cannot be read).

    Two visitors asking for the same dataset at once: the second waits for the first one's result. A path is
    checked against the server's data roots first, every time: a summary kept for one visitor is no way around them.
    """
    loading.check_spec_allowed(spec)
    key = _key(spec)
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _GUARD:
            if key in _KEPT:
                _KEPT.move_to_end(key)
                return _KEPT[key]
        try:
            summary = _compute(spec, progress)
        except BaseException:  # unreadable, or the visitor's rerun stopped it: nothing kept, the next one tries again
            with _GUARD:
                _LOCKS.pop(key, None)
            raise
        with _GUARD:
            _KEPT[key] = summary
            while len(_KEPT) > MAX_KEPT:
                _LOCKS.pop(_KEPT.popitem(last=False)[0], None)
    return summary


def _compute(spec: str, progress: ProgressCallback | None) -> dict[str, Any]:
    dataset = loading.load_dataset(spec, decode_progress=progress)
    picks = np.linspace(0, len(dataset.x_train) - 1, SAMPLES).astype(int)
    return {"train": len(dataset.x_train), "test": len(dataset.x_test), "classes": dataset.class_names,
            "samples": dataset.x_train[picks]}


def forget_all() -> None:
    """Drop every kept summary (tests)."""
    with _GUARD:
        _KEPT.clear()
        _LOCKS.clear()

"""Class results: finished runs on the same dataset, best test accuracy first.

Each row: display name, test accuracy, training seconds, images/s, parameters, and the training page's
query string of the run's settings (the link loads them into the editor). An owner or an admin can hide a
row: a `leaderboard.json` beside the run's status ({"hidden": true}), so the training process's status.json
keeps one writer. Rows of ended runs never change, so their numbers are cached by run id and file time.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from cnn_core.atomic import read_json, write_json_atomic
from cnn_core.training.config import ConfigError, TrainConfig
from cnn_core.training.layers import parameter_count
from cnn_core.training.runs import list_runs, read_events, run_folder

RANKED_STATES = ("finished", "stopped")  # a stopped run that finished an epoch was scored too
HIDDEN_FILE = "leaderboard.json"


def is_hidden(run_id: str) -> bool:
    try:
        return bool(read_json(run_folder(run_id) / HIDDEN_FILE).get("hidden"))
    except (OSError, ValueError, AttributeError):
        return False


def set_hidden(run_id: str, hidden: bool) -> None:
    """Hide a run from (or show it again on) the leaderboard; the caller checks that the visitor may."""
    write_json_atomic(run_folder(run_id) / HIDDEN_FILE, {"hidden": bool(hidden)})


@functools.lru_cache(maxsize=512)
def _numbers(run_id: str, events_mtime: float) -> dict[str, Any]:
    """Seconds, images/s and parameters of an ended run (from its finish event and config)."""
    finish = next((event for event in read_events(run_id) if event.get("type") == "finish"), {})
    try:
        config = TrainConfig.from_dict(read_json(run_folder(run_id) / "config.json"))
        classes = len(finish.get("per_class_accuracy") or {}) or 10
        params, link = parameter_count(config, classes), urlencode(config.to_query_params())
    except (OSError, ValueError, ConfigError):
        params, link = None, ""
    return {"seconds": finish.get("seconds"), "images_per_second": finish.get("images_per_second"),
            "params": params, "link": link}


def rows(data_source: str | None = None, *, include_hidden: bool = False,
         statuses: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Leaderboard rows of one dataset (or all), best test accuracy first, then faster, then earlier."""
    found = []
    for status in list_runs() if statuses is None else statuses:
        if status["state"] not in RANKED_STATES or status.get("test_accuracy") is None:
            continue
        if data_source is not None and status.get("data_source") != data_source:
            continue
        hidden = is_hidden(status["run_id"])
        if hidden and not include_hidden:
            continue
        mtime = (run_folder(status["run_id"]) / "events.jsonl").stat().st_mtime
        found.append({"run_id": status["run_id"], "owner": status.get("owner"), "model": status.get("model_name"),
                      # None: trained by `python -m cnn_core train`, which has no owner (the page says so)
                      "display_name": status.get("display_name") or status.get("owner") or None,
                      "test_accuracy": float(status["test_accuracy"]), "hidden": hidden,
                      **_numbers(status["run_id"], mtime)})
    return sorted(found, key=lambda row: (-row["test_accuracy"], row["seconds"] or float("inf"), row["run_id"]))


def data_sources(statuses: list[dict[str, Any]] | None = None) -> list[str]:
    """Datasets that have ranked runs, the one with the most runs first."""
    counts: dict[str, int] = {}
    for status in list_runs() if statuses is None else statuses:
        if status["state"] in RANKED_STATES and status.get("data_source") and status.get("test_accuracy") is not None:
            counts[status["data_source"]] = counts.get(status["data_source"], 0) + 1
    return sorted(counts, key=lambda source: (-counts[source], source))

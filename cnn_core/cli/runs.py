"""`python -m cnn_core runs`: every run on this server, one JSON line each, newest first.

Each line: run_id, owner, state (queued, starting, running, finished, stopped, failed, interrupted,
cancelled), position (queued runs: 1 starts next), eta_seconds (queued runs), model, started, ended.
"""

from __future__ import annotations

import argparse
import json

from cnn_core.server.queue import positions
from cnn_core.training.runs import list_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`runs` takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per run."""
    statuses = list_runs()
    places = positions(statuses)
    for status in statuses:
        place = places.get(status["run_id"], {})
        print(json.dumps({
            "run_id": status["run_id"], "owner": status.get("owner"), "state": status["state"],
            "position": place.get("position"), "eta_seconds": None if not place else round(place["eta"]),
            "model": status.get("model_name"), "started": status.get("started"), "ended": status.get("ended"),
        }), flush=True)
    return 0

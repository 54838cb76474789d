"""`python -m cnn_core runs`: every run on this server, one JSON line each, newest first.

Each line: run_id, owner, state (queued, starting, running, finished, stopped, failed, interrupted,
cancelled), position (queued runs: 1 starts next), eta_seconds (queued runs), model, started, ended.

`python -m cnn_core runs --delete RUN_ID [RUN_ID ...]` deletes ended runs (their folders: charts, logs,
checkpoint; saved models stay) and prints `{"deleted": RUN_ID}` for each; a run still training is refused.
"""

from __future__ import annotations

import argparse
import json

from cnn_core.server.queue import positions
from cnn_core.training.runs import delete_run, list_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`runs` lists; `--delete` removes ended runs."""
    parser.add_argument("--delete", nargs="+", metavar="RUN_ID", help="delete these ended runs (their models stay)")


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per run, or delete the runs named with --delete."""
    if args.delete:
        for run_id in args.delete:
            delete_run(run_id)  # RunNotFoundError (exit 2) or BusyError while it trains (exit 1)
            print(json.dumps({"deleted": run_id}), flush=True)
        return 0
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

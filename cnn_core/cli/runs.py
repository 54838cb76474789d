"""`python -m cnn_core runs`: every run on this server, one JSON line each, newest first (in public mode, those of
`--owner`, or every run with `--admin`).

Each line: run_id, owner, state (queued, starting, running, finished, stopped, failed, interrupted,
cancelled), position (queued runs: 1 starts next), eta_seconds (queued runs), model, started, ended.

`python -m cnn_core runs --delete RUN_ID [RUN_ID ...]` deletes ended runs (their folders: charts, logs,
checkpoint; saved models stay) and prints `{"deleted": RUN_ID}` for each; a run still training is refused.
"""

from __future__ import annotations

import argparse
import json

from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.server import owners
from cnn_core.server.queue import positions
from cnn_core.training.runs import RunNotFoundError, delete_run, list_runs, read_status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`runs` lists; `--delete` removes ended runs."""
    parser.add_argument("--delete", nargs="+", metavar="RUN_ID", help="delete these ended runs (their models stay)")
    add_visitor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per run, or delete the runs named with --delete."""
    visitor = visitor_from(args)  # public mode: the app's rule, who may see and delete which runs
    if args.delete:
        for run_id in args.delete:
            if not owners.may_manage(read_status(run_id), visitor):
                raise RunNotFoundError("no_such_run", run_id=run_id)  # as if absent: not theirs
            delete_run(run_id)  # RunNotFoundError (exit 2) or BusyError while it trains (exit 1)
            print(json.dumps({"deleted": run_id}), flush=True)
        return 0
    everyone = list_runs()
    places = positions(everyone)  # a place in the whole line, though only the visitor's own runs are printed
    statuses = owners.reports_for(everyone, visitor)
    for status in statuses:
        place = places.get(status["run_id"], {})
        print(json.dumps({
            "run_id": status["run_id"], "owner": status.get("owner"), "state": status["state"],
            "position": place.get("position"), "eta_seconds": None if not place else round(place["eta"]),
            "model": status.get("model_name"), "started": status.get("started"), "ended": status.get("ended"),
        }), flush=True)
    return 0

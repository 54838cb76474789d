"""`python -m cnn_core submit`: put a run in the server's training queue, under the same rules as the pages.

    python -m cnn_core submit --data PATH --preset quick --name my-model --owner alice [--epochs N] [--time-budget S]

Prints one JSON line {"run_id": ..., "position": ...}; the web server's dispatcher or `python -m cnn_core
worker` trains it when a slot frees. In public mode the owner may have one run queued or running.
"""

from __future__ import annotations

import argparse
import json

from cnn_core.cli.train import train_config_from_args
from cnn_core.datasets.loading import check_spec_allowed
from cnn_core.server import queue
from cnn_core.training.config import PRESETS
from cnn_core.training.launch import make_request


def owner_name(text: str) -> str:
    """--owner: not empty (a run without an owner is a teacher's in public mode)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the owner cannot be empty")
    return text.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `submit`."""
    parser.add_argument("--data", help="dataset path, as for train (default: download CIFAR-10)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="starting configuration (default: default)")
    parser.add_argument("--config", metavar="JSON_FILE", help="settings that override the preset")
    parser.add_argument("--epochs", type=int, help="train exactly this many epochs")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS", help="fit the whole run into this budget")
    parser.add_argument("--name", required=True, help="registry name of the trained model")
    parser.add_argument("--max-images", type=int, metavar="N", help="use only the first N images of each split")
    parser.add_argument("--owner", required=True, type=owner_name, help="who owns the run (a login email or a name)")
    parser.add_argument("--display-name", default="", help="the name others see on the class leaderboard")
    parser.set_defaults(resume_from=None)


def run(args: argparse.Namespace) -> int:
    """Queue the run and print its id and place in line."""
    config = train_config_from_args(args)
    check_spec_allowed(args.data)  # as the page: a path outside the data roots is refused before it is queued
    request = make_request(config, args.data, args.name, max_images=args.max_images)
    run_id = queue.submit(config, request, owner=args.owner, display_name=args.display_name or args.owner)
    place = queue.positions().get(run_id, {}).get("position")
    print(json.dumps({"run_id": run_id, "position": place}), flush=True)
    return 0

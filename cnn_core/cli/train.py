"""`python -m cnn_core train`: the very job the web page starts, run in this process.

    python -m cnn_core train --data PATH --preset quick --epochs 3 --name my-model
    python -m cnn_core train --data PATH --preset default --time-budget 180 --name fast

It prints one line per epoch and, last, one JSON line with the results, and saves the model to the
registry. Messages for people go to stderr, so stdout stays parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from cnn_core.training import launch, runs
from cnn_core.training.config import PRESETS, ConfigError, TrainConfig, preset
from cnn_core.training.resume import resume_config

DEFAULT_PRESET = "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `train`."""
    parser.add_argument("--data", help="cifar-10-batches-py folder, cifar-10-python.tar.gz, class-folder root or .zip "
                        "(default: download CIFAR-10 through Keras)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help=f"starting configuration (default: {DEFAULT_PRESET})")
    parser.add_argument("--config", metavar="JSON_FILE", help="settings that override the preset (a file saved from the app)")
    parser.add_argument("--epochs", type=int, help="train exactly this many epochs (turns a preset's time budget off; --time-budget wins if given too)")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="pick the epoch count (and learning-rate schedule) so the whole run fits this budget")
    parser.add_argument("--name", help="registry name of the trained model (default: <preset>-<date>-<time>)")
    parser.add_argument("--resume-from", metavar="RUN_ID_OR_MODEL",
                        help="continue training a run's checkpoint or a saved model (its config is the default)")
    parser.add_argument("--max-images", type=int, metavar="N", help="use only the first N images of each split (quick trials)")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Preset (or the resumed model's config), then --config file settings, then --epochs/--time-budget."""
    if args.resume_from and not args.preset and not args.config:
        values = resume_config(args.resume_from).to_dict()
    else:
        values = preset(args.preset or DEFAULT_PRESET).to_dict()
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as handle:
                overrides = json.load(handle)
        except OSError as error:
            raise ConfigError("unreadable_file", path=str(args.config), reason=str(error.strerror)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError("file_bad_json", path=str(args.config), reason=str(error)) from None
        if not isinstance(overrides, dict):
            raise ConfigError("file_not_an_object", path=str(args.config))
        values.update(overrides)
    if args.epochs is not None:
        values["epochs"] = args.epochs
        if args.time_budget is None:
            values["time_budget_seconds"] = 0.0  # an explicit epoch count wins over a preset's time budget
    if args.time_budget is not None:
        values["time_budget_seconds"] = args.time_budget
    return TrainConfig.from_dict(values)


class EpochPrinter:
    """Prints one human-readable line per finished epoch (stdout) and notes for people (stderr)."""

    def __init__(self) -> None:
        self.last_epoch = self.planned = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.last_epoch, self.planned = event["initial_epoch"] + event["epochs"], event["epochs"]
            budget = f", fitted to a {event['time_budget_seconds']:g} s budget" if event["time_budget_seconds"] else ""
            print(f"{event['data_source']}: {event['epochs']} epochs of {event['steps_per_epoch']} steps{budget}",
                  file=sys.stderr, flush=True)
        elif kind == "epoch":
            def number(key: str, spec: str) -> str:
                return "-" if event.get(key) is None else format(event[key], spec)

            print(
                f"epoch {event['epoch']}/{self.last_epoch}  loss {number('loss', '.4f')}  "
                f"accuracy {number('accuracy', '.1%')}  val_loss {number('val_loss', '.4f')}  "
                f"val_accuracy {number('val_accuracy', '.1%')}  lr {number('learning_rate', '.2e')}  "
                f"{number('images_per_second', '.0f')} img/s  elapsed {number('elapsed', '.1f')} s  "
                f"eta {number('eta', '.0f')} s",
                flush=True,
            )
        elif kind == "replan":
            self.last_epoch += event["epochs"] - self.planned
            self.planned = event["epochs"]
            print(f"re-planned to {event['epochs']} epochs to fit the time budget", file=sys.stderr, flush=True)
        elif kind == "stopped":
            print(f"stopped ({event['reason']}) after {event['epochs_completed']} epochs", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Train in this process, save to the registry, print per-epoch lines and a final JSON line."""
    config = train_config_from_args(args)
    name = args.name or f"{args.preset or DEFAULT_PRESET}-{time.strftime('%Y%m%d-%H%M%S')}"
    request = launch.make_request(
        config, args.data, name, resume_from=args.resume_from, max_images=args.max_images
    )
    with runs.runs_lock():
        active = runs.active_run()
        if active:
            raise runs.BusyError("training_here", run_id=active)
        run_id = runs.create_run(config.to_dict(), request)
    summary = launch.run_training(run_id, on_event=EpochPrinter(), started=args.started)
    result = {
        "model": summary["model_name"] if summary["model_saved"] else None,
        "test_accuracy": summary["test_accuracy"],
        "seconds": round(summary["seconds"], 2),
        "epochs": summary["epochs_completed"],
        "images_per_second": None if summary["images_per_second"] is None else round(summary["images_per_second"], 1),
        "run_id": run_id,
        "state": summary["state"],
    }
    print(json.dumps(result), flush=True)
    return 0

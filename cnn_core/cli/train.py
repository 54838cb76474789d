"""`python -m cnn_core train`: the very job the web page starts, run in this process.

    python -m cnn_core train --data PATH --preset quick --epochs 3 --name my-model
    python -m cnn_core train --data PATH --preset default --time-budget 180 --name fast

It saves the model to the registry and prints, last, one JSON line with the results. On a terminal it shows
live progress (download, decoding, batches) and a readable line per epoch; piped, stdout holds JSON lines only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.datasets.base import DataError
from cnn_core.i18n import TranslatableError
from cnn_core.server import owners
from cnn_core.server.owners import Visitor
from cnn_core.training import figures, launch, runs
from cnn_core.training.config import PRESETS, ConfigError, TrainConfig, preset
from cnn_core.training.resume import check_resume_source, resume_config

DEFAULT_PRESET = "default"


class RunFailedError(Exception):
    """The run started but failed while working (recorded as failed): exit 1 through cnn_core.cli.main."""


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
    add_visitor_arguments(parser)


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
        except RecursionError:  # nested thousands deep: as the training page says it
            raise ConfigError("too_deep") from None
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers with thousands of digits
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


class Progress:
    """What `train` shows while it works.

    On a terminal: a live status line on stderr (download, decoding, calibration, the epoch's batches), then one
    readable line per finished epoch. Piped: stdout carries JSON lines only (one per epoch, then the result),
    so a script can read every line with `json.loads`; nothing is redrawn.
    """

    def __init__(self, terminal: bool | None = None) -> None:
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.last_epoch = self.planned = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.last_epoch, self.planned = event["initial_epoch"] + event["epochs"], event["epochs"]
            if (overrun := figures.over_budget([event])) is not None:
                clear = "\r\033[K" if self.terminal else ""
                print(f"{clear}warning: one epoch does not fit the {overrun[1]:g} s budget on this machine; the run will"
                      f" take about {overrun[0]:.0f} s", file=sys.stderr, flush=True)
        elif kind == "replan":
            self.last_epoch += event["epochs"] - self.planned
            self.planned = event["epochs"]
        if kind == "epoch":
            self._epoch(event)
        elif self.terminal:
            self._status(event)

    def _epoch(self, event: dict[str, Any]) -> None:
        if not self.terminal:
            keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "images_per_second",
                    "elapsed", "eta")
            print(json.dumps({"type": "epoch", "last_epoch": self.last_epoch, **{key: event.get(key) for key in keys}}),
                  flush=True)
            return

        def number(key: str, spec: str) -> str:
            return "-" if event.get(key) is None else format(event[key], spec)

        print("\r\033[K", end="", file=sys.stderr, flush=True)  # clear the live line first
        print(f"epoch {event['epoch']}/{self.last_epoch}  loss {number('loss', '.4f')}  "
              f"accuracy {number('accuracy', '.1%')}  val_loss {number('val_loss', '.4f')}  "
              f"val_accuracy {number('val_accuracy', '.1%')}  lr {number('learning_rate', '.2e')}  "
              f"{number('images_per_second', '.0f')} img/s  elapsed {number('elapsed', '.1f')} s  "
              f"eta {number('eta', '.0f')} s", flush=True)

    def _status(self, event: dict[str, Any]) -> None:
        text = status_text(event, self.last_epoch)
        if text is not None:
            end = "\n" if event["type"] in ("start", "replan", "stopped") else ""
            print(f"\r\033[K{text}", end=end, file=sys.stderr, flush=True)


def status_text(event: dict[str, Any], last_epoch: int) -> str | None:
    """One line of live status for a terminal, or None for events that have none."""
    kind = event["type"]
    if kind == "loading" and event.get("bytes_total"):
        return f"downloading CIFAR-10 {bar(event['bytes_done'] / event['bytes_total'])} {event['bytes_done'] >> 20} MB"
    if kind == "loading" and event.get("images_total"):
        return f"decoding images {bar(event['images_done'] / event['images_total'])} {event['images_done']:,}"
    if kind == "batch":
        return f"epoch {event['epoch']}/{last_epoch} step {event['step']}  loss {event['loss']:.4f}"
    budget = f", fitted to a {event.get('time_budget_seconds') or 0:g} s budget" if event.get("time_budget_seconds") else ""
    if widened := figures.widening(event):  # a long run (cnn_core.training.job.long_run)
        budget += "; a long run: filters {filters} instead of {asked}, weight decay {weight_decay}".format(**widened)
    if event.get("mixup_alpha"):
        budget += f", mixup α {event['mixup_alpha']:g}"
    return {
        "loading": f"loading {event.get('data')}", "calibrating": "timing a few steps to fit the time budget",
        "start": f"{event.get('data_source')}: {event.get('epochs')} epochs of {event.get('steps_per_epoch')} steps{budget}"
                 f" ({event.get('devices')}, {event.get('precision')})",
        "replan": f"re-planned to {event.get('epochs')} epochs to fit the time budget",
        "stopped": f"stopped ({event.get('reason')}) after {event.get('epochs_completed')} epochs",
        "evaluating": "scoring the validation and test splits", "saving": "saving the model",
    }.get(kind)


def bar(fraction: float, width: int = 20) -> str:
    """A text progress bar: [#######.............] 35 %."""
    filled = int(round(max(0.0, min(fraction, 1.0)) * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"


def check_visitor(args: argparse.Namespace, name: str) -> Visitor:
    """Public mode: the command trains as its --owner (or --admin) under the app's rules: it continues only a run or
    model that visitor may manage or see, and never saves under a name another owner holds. Returns the visitor."""
    visitor = visitor_from(args)
    if args.resume_from:
        check_resume_source(args.resume_from)  # a run with a checkpoint or a saved model, else why not
    if args.resume_from and runs.RUN_ID_PATTERN.match(args.resume_from):
        if not owners.may_manage(runs.read_status(args.resume_from), visitor):
            raise runs.RunNotFoundError("no_such_run", run_id=args.resume_from)  # as if absent: not theirs to see
    elif args.resume_from:
        owners.model_metadata_for(args.resume_from, visitor)  # RegistryError "no such model" when not theirs
    owners.check_name_free(name, visitor)
    return visitor


def run(args: argparse.Namespace) -> int:
    """Train in this process, save to the registry; progress as it goes (see Progress), a final JSON line."""
    name = args.name or f"{args.preset or DEFAULT_PRESET}-{time.strftime('%Y%m%d-%H%M%S')}"
    visitor = check_visitor(args, name)
    config = train_config_from_args(args)
    request = launch.make_request(
        config, args.data, name, resume_from=args.resume_from, max_images=args.max_images
    )
    with runs.runs_lock():
        active = runs.active_run()
        if active:
            raise runs.BusyError("training_here", run_id=active)
        run_id = runs.create_run(config.to_dict(), {**request, "owner": visitor.owner or None},
                                 owner=visitor.owner or None)
    try:
        summary = launch.run_training(run_id, on_event=Progress(), started=args.started)
    except (DataError, ConfigError):
        raise  # the data or settings it was given are unusable: bad usage (exit 2 through cli.main)
    except (TranslatableError, OSError) as error:  # the run failed while working: recorded as failed, exit 1
        print(file=sys.stderr)  # below the progress line
        raise RunFailedError(launch.describe_error(error)) from None
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

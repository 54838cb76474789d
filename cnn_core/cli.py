"""`python -m cnn_core train|evaluate ...`: the app's training job and model scoring from a terminal.

    python -m cnn_core train --data PATH --preset quick --epochs 3 --name my-model
    python -m cnn_core train --data PATH --preset default --time-budget 180 --name fast
    python -m cnn_core evaluate --model my-model --data PATH

`train` runs the very job the web page starts (cnn_core.training.run_training), in this process; it
prints one line per epoch and, last, one JSON line with the results, and saves the model to the
registry. Messages for people go to stderr, so stdout stays parseable. Bad input (missing data, an
invalid config, an unknown model) prints `error: ...` to stderr and exits with status 2.

Each subcommand is one `Subcommand` in SUBCOMMANDS: a help line, a function that adds its arguments and
a function that runs it and returns the exit status. `predict` lives in cnn_core/cli_predict.py
(`add_arguments`, `run`) and is picked up when that module exists.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from cnn_core.config import PRESETS, ConfigError, TrainConfig, preset

DEFAULT_PRESET = "default"


class CommandError(ValueError):
    """Arguments that make sense one by one but not together (e.g. a model for other classes)."""


@dataclass(frozen=True)
class Subcommand:
    """One `python -m cnn_core <name>` command."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- train ---


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to runs/<id>/tensorboard")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Preset (or the resumed model's config), then --config file settings, then --epochs/--time-budget."""
    if args.resume_from and not args.preset and not args.config:
        from cnn_core.training import resume_config

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


def cmd_train(args: argparse.Namespace) -> int:
    """Train in this process, save to the registry, print per-epoch lines and a final JSON line."""
    from cnn_core import training

    config = train_config_from_args(args)
    name = args.name or f"{args.preset or DEFAULT_PRESET}-{time.strftime('%Y%m%d-%H%M%S')}"
    request = training.make_request(
        config, args.data, name, resume_from=args.resume_from, max_images=args.max_images, tensorboard=args.tensorboard
    )
    with training.runs_lock():
        active = training.active_run()
        if active:
            raise training.BusyError("training_here", run_id=active)
        run_id = training.create_run(config.to_dict(), request)
    summary = training.run_training(run_id, on_event=EpochPrinter(), started=args.started)
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


# --- evaluate ---


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `evaluate`."""
    parser.add_argument("--model", required=True, help="registry name of the model")
    parser.add_argument("--data", help="dataset whose test split is scored (same forms as train --data)")
    parser.add_argument("--max-images", type=int, metavar="N", help="score only the first N test images")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a saved model on the test split of a dataset; prints JSON with accuracy and per_class."""
    import numpy as np

    from cnn_core.data import load_dataset
    from cnn_core.registry import load_metadata, load_model

    metadata = load_metadata(args.model)
    dataset = load_dataset(args.data)
    images, labels = dataset.x_test[: args.max_images], dataset.y_test[: args.max_images]
    model_classes = list(metadata.get("class_names") or dataset.class_names)
    if set(model_classes) != set(dataset.class_names):
        raise CommandError(
            f"Model {metadata['name']!r} knows the classes {', '.join(model_classes)}, but {dataset.source} "
            f"has {', '.join(dataset.class_names)}."
        )
    # The same class names may come in another order (e.g. class folders); score in the model's order.
    labels = np.asarray([model_classes.index(name) for name in dataset.class_names], dtype=np.int64)[labels]
    test_time_flip = bool((metadata.get("config") or {}).get("test_time_flip", False))

    from cnn_core.evaluation import evaluate_model

    scores = evaluate_model(load_model(args.model), images, labels, model_classes, test_time_flip)
    print(json.dumps({
        "model": metadata["name"], "data": dataset.source, "test_images": int(len(labels)),
        "test_time_flip": test_time_flip, "accuracy": scores["accuracy"], "per_class": scores["per_class_accuracy"],
    }), flush=True)
    return 0


# --- The table of subcommands and main(). ---

SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand("train a model (the app's training job) and save it to the registry", add_train_arguments, cmd_train),
    "evaluate": Subcommand("score a saved model on a dataset's test split", add_evaluate_arguments, cmd_evaluate),
}


def _plugin_subcommands() -> dict[str, Subcommand]:
    """Subcommands kept in their own module: `predict` from cnn_core/cli_predict.py, once it exists."""
    try:
        from cnn_core import cli_predict
    except ModuleNotFoundError as error:
        if error.name != "cnn_core.cli_predict":
            raise
        return {}
    return {"predict": Subcommand("classify image files with a saved model", cli_predict.add_arguments, cli_predict.run)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m cnn_core", description="CNN Studio from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, subcommand in {**SUBCOMMANDS, **_plugin_subcommands()}.items():
        sub = commands.add_parser(name, help=subcommand.help, description=subcommand.help)
        subcommand.add_arguments(sub)
        sub.set_defaults(run=subcommand.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one subcommand; exit status 2 with a message for bad input."""
    started = time.monotonic()  # a time budget counts from here, TensorFlow's import included
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off stderr
    args = build_parser().parse_args(argv)
    args.started = started
    from cnn_core.runs import BusyError

    try:
        return args.run(args)
    except BusyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        if not type(error).__module__.startswith("cnn_core"):
            raise  # not one of our input errors: a bug, and its traceback helps
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

"""`python -m cnn_core COMMAND ...`: parse the command line and run one subcommand.

    python -m cnn_core train --data PATH --preset quick --epochs 3 --name my-model
    python -m cnn_core evaluate --model my-model --data PATH
    python -m cnn_core predict --model my-model photo.jpg
    python -m cnn_core export --model my-model --format keras-code --out train_my_model.py
    python -m cnn_core robustness --model my-model --data PATH --attack fgsm --epsilons 0 1 2 4 8
    python -m cnn_core models delete my-model
    python -m cnn_core submit --data PATH --preset quick --name my-model --owner alice
    python -m cnn_core runs
    python -m cnn_core worker

Each subcommand is a module of this package with `add_arguments(parser)` and `run(args) -> exit status`,
listed once in SUBCOMMANDS. Results go to stdout (JSON lines), messages for people to stderr.

Exit status: 0 done; 1 a runtime failure (the training run failed, a file could not be written, the server is
busy training); 2 bad usage (unknown options, missing data, an invalid config, an unknown model), with
`error: ...` on stderr and no traceback; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

from cnn_core import __version__
from cnn_core.cli import evaluate, export, models, predict, robustness, runs, submit, train, worker
from cnn_core.i18n import TranslatableError
from cnn_core.models.protection import ProtectedError
from cnn_core.training.runs import BusyError


@dataclass(frozen=True)
class Subcommand:
    """One `python -m cnn_core <name>` command."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- The table of subcommands and main(). ---

SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand("train a model (the app's training job) and save it to the registry", train.add_arguments, train.run),
    "evaluate": Subcommand("score a saved model on a dataset's test split", evaluate.add_arguments, evaluate.run),
    "predict": Subcommand("classify image files with a saved model", predict.add_arguments, predict.run),
    "export": Subcommand("write a saved model as a Keras training script, a SavedModel or a TFLite file",
                         export.add_arguments, export.run),
    "robustness": Subcommand("accuracy on a test split under an attack or a perturbation, per level",
                             robustness.add_arguments, robustness.run),
    "submit": Subcommand("put a run in the server's training queue (prints its run id and place)", submit.add_arguments,
                         submit.run),
    "runs": Subcommand("list every run with its owner, state and place in the queue", runs.add_arguments, runs.run),
    "worker": Subcommand("start queued runs as slots free, without the web server", worker.add_arguments, worker.run),
    "models": Subcommand("list, delete or protect saved models (protected ones are never deleted)", models.add_arguments,
                         models.run),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m cnn_core", description="CNN Studio from the command line.")
    parser.add_argument("--version", action="version", version=f"cnn-studio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, subcommand in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=subcommand.help, description=subcommand.help)
        subcommand.add_arguments(sub)
        sub.set_defaults(run=subcommand.run)
    return parser


EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one subcommand; see the module docstring for the exit statuses."""
    started = time.monotonic()  # a time budget counts from here, TensorFlow's import included
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off stderr
    args = build_parser().parse_args(argv)
    args.started = started
    try:
        return args.run(args)
    except (BusyError, ProtectedError, OSError, train.RunFailedError) as error:  # not bad input: the machine,
        # another run, a protected model, a run that failed while working
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (TranslatableError, evaluate.CommandError) as error:  # one of our refusals of the input
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

"""`python -m cnn_core robustness`: accuracy on a test split under attack or perturbation, one JSON line per level.

    python -m cnn_core robustness --model NAME --data PATH --attack fgsm --epsilons 0 1 2 4 8
    python -m cnn_core robustness --model NAME --data PATH --perturb blur --levels 0 0.5 1 2
    python -m cnn_core robustness --model NAME --data PATH --suite

Teachers prepare lessons with it: each line is {"attack" or "perturb": ..., "level": ..., "accuracy": ...}.
Test-time flip is off, so at epsilon 0 (or a neutral level) the accuracy equals `evaluate`'s without it.
Epsilons are in pixel units (/255); perturbation levels in the units of the classify page's sliders
(cnn_core.classify.probes.RANGES). `--suite` scores the corruption suite (cnn_core.classify.corruptions):
one line per corruption ({"corruption": "noise_8", "perturb": "noise", "level": 8.0, ...}), then its mean.
"""

from __future__ import annotations

import argparse
import json

from cnn_core.classify.adversarial import ATTACKS, PGD_STEPS
from cnn_core.classify.probes import PERTURBATIONS
from cnn_core.cli.evaluate import labelled_test_split
from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.models.robustness import SUITE
from cnn_core.server.owners import load_model_for, model_metadata_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `robustness`."""
    parser.add_argument("--model", required=True, help="registry name of the model")
    parser.add_argument("--data", help="dataset whose test split is scored (same forms as train --data)")
    parser.add_argument("--max-images", type=int, metavar="N", help="score only the first N test images")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--attack", choices=ATTACKS, help="adversarial attack against the model's own gradient")
    what.add_argument("--perturb", choices=PERTURBATIONS, help="change every test image alike")
    what.add_argument("--suite", action="store_true",
                      help="the corruption suite: " + ", ".join(corruption.name for corruption in SUITE) + ", and their mean")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0, 1, 2, 4, 8],
                        help="attack strengths in pixel units (/255)")
    parser.add_argument("--levels", type=float, nargs="+", help="perturbation levels (slider units)")
    parser.add_argument("--steps", type=int, default=PGD_STEPS, help="PGD steps")
    add_visitor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per epsilon, level or corruption: the accuracy on the test split (test-time flip off)."""
    from cnn_core.classify import adversarial  # imported here: it imports TensorFlow

    metadata = model_metadata_for(args.model, visitor_from(args))
    _, images, labels, _ = labelled_test_split(metadata, args.data, args.max_images)
    model = load_model_for(args.model, visitor_from(args))
    if args.suite:
        rows = suite_rows(model, images, labels)
    elif args.attack:
        accuracies = adversarial.accuracy_curve(model, images, labels, args.epsilons, args.attack, args.steps)
        rows = [{"attack": args.attack, "level": float(level), "accuracy": accuracy}
                for level, accuracy in zip(args.epsilons, accuracies)]
    else:
        rows = perturbation_rows(model, images, labels, args.perturb, args.levels)
    for row in rows:
        print(json.dumps({**row, "test_images": int(len(labels))}), flush=True)
    return 0


def perturbation_rows(model, images, labels, kind: str, chosen: list[float] | None) -> list[dict]:
    """One row per level of one perturbation (the slider's whole range unless `chosen`)."""
    from cnn_core.classify import corruptions, probes

    chosen = list(probes.levels(kind)) if chosen is None else chosen
    return [{"perturb": kind, "level": float(level),
             "accuracy": corruptions.accuracy(lambda batch: probes.forward(model, batch),
                                              probes.perturb_many(images, kind, level), labels)}
            for level in chosen]


def suite_rows(model, images, labels) -> list[dict]:
    """One row per corruption of the suite (noise drawn per image), then their mean and the clean accuracy."""
    from cnn_core.classify import corruptions

    scores = corruptions.corruption_accuracy(model, images, labels)
    rows = [{"corruption": corruption.name, "perturb": corruption.kind, "level": corruption.level,
             "accuracy": scores[corruption.name]} for corruption in SUITE]
    return rows + [{"corruption": "mean", "accuracy": scores["mean"]}, {"corruption": "clean", "accuracy": scores["clean"]}]

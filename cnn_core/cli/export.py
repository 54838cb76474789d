"""`python -m cnn_core export --model NAME --format FORMAT --out PATH`: a saved model for use outside the app.

    keras-code   one Python file (Keras + NumPy only) that trains the same network again from scratch
    saved_model  a TensorFlow SavedModel folder (`loaded = tf.saved_model.load(PATH)`, `loaded.serve(images)`)
    tflite       a LiteRT / TensorFlow Lite file for phones and small boards

`--out` may be an existing folder: the export then gets its default name inside it. Prints one JSON line
`{"model", "format", "out"}`. Formats and what they hold: cnn_core.training.export.
"""

from __future__ import annotations

import argparse
import json
import sys

from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.server.owners import model_metadata_for
from cnn_core.training.export import FORMATS, ExportError, export_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `export`."""
    parser.add_argument("--model", required=True, help="registry name of the model")
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write (see above)")
    parser.add_argument("--out", required=True, metavar="PATH", help="file or folder to write (a folder: default name)")
    add_visitor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Write the export; bad input raises (exit 2 through cli.main), a failed conversion or write exits 1."""
    model_metadata_for(args.model, visitor_from(args))  # public mode: another visitor's model reads as absent
    try:
        path = export_model(args.model, args.format, args.out)
    except ExportError as error:
        if error.reason not in ("not_written", "not_converted"):
            raise  # the input's fault: exit 2
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"model": args.model, "format": args.format, "out": str(path)}), flush=True)
    return 0

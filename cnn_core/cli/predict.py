"""`python -m cnn_core predict --model NAME FILE...`: classify image files, one JSON line per file.

Each line is `{"file": ..., "top": [{"label": ..., "p": ...}, ...]}`, or `{"file": ..., "error": ...}`
for a file that is not an image we accept. Refusing a file is handling it, so the exit status is 0
whenever every file got its line; it is 2 only when the command itself cannot run (no such model).
Labels are the model's class names; `--lang zh` writes CIFAR-10's in Chinese (猫, 狗, …) for people
reading the output (scripts should keep the default). Messages stay English, like every CLI here.
Images are prepared exactly as on the classify page (cnn_core.classify.inference.prepare_image).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from cnn_core import i18n
from cnn_core.classify.inference import FIT_CHOICES, default_model, prepare_image
from cnn_core.cli.visitor import add_visitor_arguments, visitor_from
from cnn_core.server import owners

# Files larger than this are refused before reading; no accepted image format needs more.
MAX_FILE_BYTES = 64 * 1024 * 1024
EXIT_OK = 0
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the predict subcommand's options on `parser`."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files (PNG, JPEG, GIF, WebP, BMP, ...)")
    parser.add_argument("--model", default=None, help="registry name (default: the shipped model, else the newest)")
    parser.add_argument("--top", type=int, default=5, help="how many classes to list per file (default 5)")
    parser.add_argument("--fit", choices=FIT_CHOICES, default="crop",
                        help="make photos square by centre crop (default) or by padding")
    parser.add_argument("--lang", choices=sorted(i18n.LANGUAGES), default="en",
                        help="language of the class labels (default en: the model's own class names)")
    add_visitor_arguments(parser)


def _read_file(path: Path) -> bytes:
    """The file's bytes, refusing folders and oversized files with a message (OSError for I/O trouble)."""
    if path.is_dir():
        raise ValueError("This is a folder, not an image file.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"The file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    return path.read_bytes()


def _prepare(path: Path, fit: str):
    """(prepared 32x32 array, None) or (None, error message) for one file."""
    from cnn_core.images import ImageError, load_image

    try:
        return prepare_image(load_image(_read_file(path)), fit), None
    except FileNotFoundError:
        return None, "No such file."
    except PermissionError:
        return None, "The file cannot be read (permission denied)."
    except (ImageError, ValueError, OSError) as error:
        return None, str(error) or type(error).__name__


def predict_files(model_name: str, files: Sequence[str], top_k: int = 5, fit: str = "crop",
                  language: str = "en", visitor: owners.Visitor | None = None) -> Iterator[dict]:
    """One result dict per file, in order; images are classified in a single batch."""
    from cnn_core.classify.inference import classify

    visitor = visitor or owners.Visitor("")
    metadata = owners.model_metadata_for(model_name, visitor)
    model = owners.load_model_for(model_name, visitor)
    test_time_flip = bool(metadata.get("config", {}).get("test_time_flip", False))
    prepared = [(name, *_prepare(Path(name), fit)) for name in files]
    images = [image for _, image, _ in prepared if image is not None]
    results = iter(classify(model, images, metadata["class_names"], top_k, test_time_flip=test_time_flip))
    for name, image, error in prepared:
        if image is None:
            yield {"file": name, "error": error}
        else:
            top = next(results)
            yield {"file": name, "top": [{"label": i18n.class_label(language, label), "p": round(p, 6)}
                                         for label, p in top]}


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Execute the predict subcommand for parsed `args`; returns the exit status."""
    from cnn_core.models import registry

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if args.top < 1:
        print("error: --top must be at least 1.", file=stderr)
        return EXIT_USAGE
    name, who = args.model, visitor_from(args)
    if name is None:
        chosen = default_model(owners.models_for(who))
        if chosen is None:
            print("error: there is no trained model yet; train one with `python -m cnn_core train`.", file=stderr)
            return EXIT_USAGE
        name = chosen["name"]
    try:
        for line in predict_files(name, args.files, args.top, args.fit, getattr(args, "lang", "en"), who):
            print(json.dumps(line, ensure_ascii=False), file=stdout, flush=True)
    except (registry.RegistryError, FileNotFoundError) as error:
        print(f"error: cannot load model {name!r}: {error}", file=stderr)
        return EXIT_USAGE
    return EXIT_OK

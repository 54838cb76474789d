"""`python -m cnn_core worker`: the training queue's dispatcher without the web server (a CLI-only server).

It fills the same slots (CNN_STUDIO_MAX_RUNS) from the same queue as the web server's dispatcher; both may
run at once, the queue's lock keeps every run to one start. Ctrl-C ends it; runs it was training then read
"interrupted" and can be resumed, queued runs keep waiting.
"""

from __future__ import annotations

import argparse
import signal
import sys

from cnn_core.server import settings
from cnn_core.server.dispatcher import POLL_SECONDS, run_worker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `worker`."""
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, metavar="SECONDS", help="how often to look")


def run(args: argparse.Namespace) -> int:
    """Dispatch until interrupted."""
    # Ctrl-C (SIGINT) stops it even when a script started it in the background, which hands it SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"worker: {settings.max_runs()} slot(s), queue in the runs folder; Ctrl-C stops", file=sys.stderr,
          flush=True)
    run_worker(max(args.poll, 0.1))
    return 0

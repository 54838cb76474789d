"""`python -m cnn_core worker`: the training queue's dispatcher without the web server (a CLI-only server).

It fills the same slots (CNN_STUDIO_MAX_RUNS) from the same queue as the web server's dispatcher; both may
run at once, the queue's lock keeps every run to one start. Like the web server (cnn_core.server.lifecycle), it puts
runs the last shutdown interrupted back into the queue when it starts, and Ctrl-C or SIGTERM ends it within seconds:
the runs it was training read "interrupted" and go back into the queue at the next start; queued runs keep waiting.
"""

from __future__ import annotations

import argparse
import signal
import sys

from cnn_core import settings
from cnn_core.server import lifecycle
from cnn_core.server.dispatcher import POLL_SECONDS, run_worker
from cnn_core.server.queue import requeue_interrupted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `worker`."""
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, metavar="SECONDS", help="how often to look")


def run(args: argparse.Namespace) -> int:
    """Dispatch until interrupted (Ctrl-C or SIGTERM), then end the runs it trains."""
    # Ctrl-C (SIGINT) stops it even when a script started it in the background, which hands it SIGINT ignored;
    # SIGTERM (a host or service manager stopping it) the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    requeue_interrupted()
    print(f"worker: {settings.max_runs()} slot(s), queue in the runs folder; Ctrl-C stops", file=sys.stderr,
          flush=True)
    try:
        run_worker(max(args.poll, 0.1))
    finally:
        lifecycle.stop()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")

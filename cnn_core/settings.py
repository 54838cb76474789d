"""Deployment settings read from the environment: is this a public server, and what may one run cost there.

A desktop copy runs with none of them set. A public deployment (many strangers sharing one small
machine) sets CNN_STUDIO_PUBLIC=1: pages then never show the server's own paths, and one training run
is capped (cnn_core.training.config.check_public_cost) so that no visitor can hold the server for long.
"""

from __future__ import annotations

import os

# A public run trains for at most this many seconds unless CNN_STUDIO_MAX_RUN_SECONDS says otherwise:
# five minutes teaches the lesson on CIFAR-10 and lets the next student have the machine.
DEFAULT_MAX_RUN_SECONDS = 300.0
_TRUE = ("1", "true", "yes", "on")


def public_mode() -> bool:
    """True on a shared public server (env CNN_STUDIO_PUBLIC=1/true/yes/on)."""
    return os.environ.get("CNN_STUDIO_PUBLIC", "").strip().lower() in _TRUE


def max_run_seconds() -> float:
    """The longest a run may train in public mode (env CNN_STUDIO_MAX_RUN_SECONDS, default 300)."""
    try:
        value = float(os.environ.get("CNN_STUDIO_MAX_RUN_SECONDS", DEFAULT_MAX_RUN_SECONDS))
    except ValueError:
        return DEFAULT_MAX_RUN_SECONDS
    return value if value > 0 else DEFAULT_MAX_RUN_SECONDS

"""Helpers for tests that start child processes: their environment, and how a shell would have started them."""

from __future__ import annotations

import os
import signal


def child_env(**changes: str | None) -> dict[str, str]:
    """This process's environment with `changes` applied: a string sets a variable, None removes it."""
    env = {key: value for key, value in os.environ.items() if key not in changes}
    env.update({key: value for key, value in changes.items() if value is not None})
    return env


def as_background_job() -> None:
    """Popen's preexec_fn (POSIX): the child starts with SIGINT ignored, as a shell script's `command &` (or
    `nohup command &`) starts it; its own children inherit that unless they set a handler themselves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

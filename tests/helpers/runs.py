"""Helpers for tests that train: a tiny model's settings, a run created as the pages create it, and polling."""

from __future__ import annotations

import time

from cnn_core.training import launch, runs
from cnn_core.training.config import TrainConfig

TINY = dict(filters=[4], batch_size=64)


def new_run(config: TrainConfig, data, name: str = "tiny", **request) -> str:
    """A run folder for `config` on `data` (not started), as the training page would create it."""
    return runs.create_run(config.to_dict(), launch.make_request(config, data, name, **request))


def wait_until(predicate, timeout: float = 120.0):
    """Poll `predicate` every 0.1 s until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def first_epoch_seen(run_id: str) -> bool:
    return any(event["type"] == "epoch" for event in runs.read_events(run_id))


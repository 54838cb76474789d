"""A training run's process: its priority (the host's CNN_STUDIO_TRAINING_NICE, passed by the server), and ending it
from outside even when it ignores the polite request."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from cnn_core import processes, settings

from helpers.processes import child_env

# A fresh process (a process can only lower its own priority, never raise it back): what lower_priority()
# reports, and the nice value it leaves.
PROBE = "import psutil, sys; from cnn_core.processes import lower_priority; " \
        "print(lower_priority(int(sys.argv[1])), psutil.Process().nice())"


def probe(nice: int) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, str(nice)], env=child_env(), capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has priority classes, not nice values")
def test_a_training_process_takes_the_nice_value_it_is_given_and_zero_leaves_it_alone():
    own = psutil.Process().nice()
    assert probe(10) == f"True {max(own, 10)}"  # the hosting default: a contended core goes to the web server
    assert probe(4) == f"True {max(own, 4)}"
    assert probe(0) == f"False {own}"


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("7", 7), ("25", 19), ("-3", 0), ("high", 10), ("", 10)])
def test_the_nice_setting_is_read_and_clamped(monkeypatch, value, expected):
    monkeypatch.setenv("CNN_STUDIO_TRAINING_NICE", value)
    assert settings.training_nice() == expected


STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"


@pytest.mark.skipif(sys.platform == "win32", reason="Windows' TerminateProcess cannot be ignored")
def test_end_process_kills_a_process_that_ignores_the_request_and_spares_a_reused_pid():
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout.readline().strip() == "ready"  # its SIGTERM handler is in place
        marker = processes.process_start_marker(stubborn.pid)
        # The recorded process (another start time) is long gone; this one only reuses its pid: left alone.
        assert processes.end_process(stubborn.pid, "12.345", grace_seconds=0.1)
        assert processes.process_alive(stubborn.pid, marker)
        began = time.monotonic()
        assert processes.end_process(stubborn.pid, marker, grace_seconds=1.0)
        assert 0.9 < time.monotonic() - began < 10  # the request ignored for the whole grace, then killed
        assert not processes.process_alive(stubborn.pid, marker)
    finally:
        stubborn.kill()
    assert processes.end_process(stubborn.pid, marker, grace_seconds=1.0)  # already gone: nothing to do

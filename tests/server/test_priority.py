"""Training processes lower their own OS priority as far as the host's setting says (CNN_STUDIO_TRAINING_NICE)."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from cnn_core.server import settings

from helpers.processes import child_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Windows has priority classes, not nice values")

# A fresh process (a process can only lower its own priority, never raise it back): what lower_priority()
# reports, and the nice value it leaves.
PROBE = ("import psutil; from cnn_core.server.priority import lower_priority; "
         "print(lower_priority(), psutil.Process().nice())")


def probe(value: str | None) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], env=child_env(CNN_STUDIO_TRAINING_NICE=value),
                          capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_a_training_process_takes_the_configured_nice_value_and_zero_leaves_it_alone():
    own = psutil.Process().nice()
    assert probe(None) == f"True {max(own, 10)}"  # the default: a contended core goes to the web server
    assert probe("4") == f"True {max(own, 4)}"
    assert probe("0") == f"False {own}"


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("7", 7), ("25", 19), ("-3", 0), ("high", 10), ("", 10)])
def test_the_nice_setting_is_read_and_clamped(monkeypatch, value, expected):
    monkeypatch.setenv("CNN_STUDIO_TRAINING_NICE", value)
    assert settings.training_nice() == expected

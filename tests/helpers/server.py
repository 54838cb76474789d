"""A real `streamlit run app.py` on a free loopback port, started and stopped by a test (restarts included)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers.paths import PROJECT_ROOT

START_TIMEOUT_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict[str, str], log: Path | None, script: Path | str = "app.py",
                 cwd: Path = PROJECT_ROOT) -> subprocess.Popen:
    """Start `streamlit run script` (the app by default) on 127.0.0.1:port and wait (bounded) until it answers its
    health check; its output goes to `log` (None: nowhere)."""
    handle = open(log, "ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true"], cwd=cwd, env={**os.environ, **env}, stdout=handle,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("streamlit did not start: " + (log.read_text()[-3000:] if log is not None else str(script)))


def stop_server(process: subprocess.Popen) -> None:
    """Terminate (as a restart does), then kill if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)

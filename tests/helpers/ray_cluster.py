"""A real two-node Ray cluster on 127.0.0.1, made with `ray start --head` and `ray start --address`, and
taken down again by killing exactly the processes those two commands left behind (found by psutil as the
Ray processes that appeared during each command), never by name across the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import psutil


def _ray_processes() -> set[int]:
    found = set()
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        text = " ".join(process.info["cmdline"] or [])
        name = process.info["name"] or ""
        # Ray's daemons (gcs_server, raylet, its Python helpers) and workers ("ray::..."), nothing else.
        if "site-packages/ray/" in text or "-m ray." in text or name.startswith("ray::") or text.startswith("ray::"):
            found.add(process.info["pid"])
    return found


def short_temp_folder() -> str:
    """A new folder with a short path: Ray puts its Unix sockets under TMPDIR, and a socket path may not pass
    107 bytes (pytest's tmp_path plus Ray's session folder does, and `ray start` then fails)."""
    return tempfile.mkdtemp(prefix="ray-", dir="/tmp" if os.path.isdir("/tmp") else None)


def start_node(*args: str, temp: str | None = None) -> set[int]:
    """Run `ray start ARGS` (bounded) and return the pids of the Ray processes it started; `temp` (short, see
    short_temp_folder) becomes the node's TMPDIR, so what its workers leave behind is removed with it."""
    before = _ray_processes()
    env = {**os.environ, **({"TMPDIR": temp} if temp else {})}
    started = subprocess.run([shutil.which("ray") or "ray", "start", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                              "--disable-usage-stats", *args], capture_output=True, text=True, timeout=120, env=env)
    if started.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{started.stdout[-2000:]}\n{started.stderr[-2000:]}")
    return _ray_processes() - before


def kill(pids: set[int]) -> None:
    """SIGKILL these processes (a switched-off lab PC); ones already gone are skipped."""
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass

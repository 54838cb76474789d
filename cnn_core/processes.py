"""The operating system's side of a training run: is its process alive, its priority, and ending it.

psutil asks and tells the OS the same way on Linux, macOS and Windows: no signal is sent to ask whether a process
lives (on Windows `os.kill(pid, 0)` would send Ctrl-C), and `/proc` exists on Linux only.
"""

from __future__ import annotations

import sys

import psutil


def process_start_marker(pid: int) -> str | None:
    """When the process started (psutil's create time, seconds since the epoch), or None if it is gone.

    Stored beside the pid so that a *new* process that reuses the pid after a restart (common in
    containers, where pids are small) is not mistaken for the training process.
    """
    try:
        return f"{psutil.Process(int(pid)).create_time():.3f}"
    except (psutil.Error, ValueError):
        return None


def process_alive(pid: int | None, start_marker: str | None = None) -> bool:
    """Whether `pid` is a live process (not a zombie) and, if known, the same one as when recorded."""
    if not pid:
        return False
    try:
        process = psutil.Process(int(pid))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False  # exited, waiting to be reaped
        started = f"{process.create_time():.3f}"
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True  # it exists but belongs to someone else
    return not (start_marker and started != start_marker)


END_GRACE_SECONDS = 3.0  # a run asked to end gets this long to record it itself, then it is killed


def end_processes(records: list[tuple[int, str | None]], grace_seconds: float = END_GRACE_SECONDS) -> list[bool]:
    """Ask processes to end (SIGTERM; Windows: TerminateProcess), all at once, and kill those still there after
    `grace_seconds`; for each (pid, start marker), whether it is gone. A pid now used by another process is left alone."""
    targets = {}
    for pid, marker in records:
        if process_alive(pid, marker):
            try:
                targets[pid] = psutil.Process(int(pid))
                targets[pid].terminate()
            except psutil.NoSuchProcess:
                targets.pop(pid, None)
            except psutil.AccessDenied:
                continue
    _, alive = psutil.wait_procs(list(targets.values()), timeout=grace_seconds)
    for survivor in alive:  # stuck in a long native call: Python's handler never got to run
        try:
            survivor.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return [not process_alive(pid, marker) for pid, marker in records]


def end_process(pid: int, start_marker: str | None, grace_seconds: float = END_GRACE_SECONDS) -> bool:
    """One process, as `end_processes` ends them; whether it is gone."""
    return end_processes([(pid, start_marker)], grace_seconds)[0]


def lower_priority(nice: int) -> bool:
    """Lower this process's priority to the nice value `nice` (below normal on Windows); 0 leaves it. Whether it did.

    Training processes call it at start, with the hosting setting the server passes them, so that the web server's
    own requests stay responsive on a small machine (bench/bench_shared.py).
    """
    if nice <= 0:
        return False
    try:
        process = psutil.Process()
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            process.nice(max(process.nice(), min(nice, 19)))
        return True
    except (psutil.Error, OSError, AttributeError):
        return False

"""Resident memory of a process and everything it started (a server and its training processes), via psutil,
so it reads the same on Linux, macOS and Windows. Used by the load test and bench/bench_memory.py."""

from __future__ import annotations

import threading

import psutil


def tree_pids(root: int) -> list[int]:
    """`root` and its descendants that are alive now ([] when `root` is gone)."""
    try:
        process = psutil.Process(root)
        return [root] + [child.pid for child in process.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and its descendants (a process that ends meanwhile counts 0)."""
    total = 0
    for pid in tree_pids(root):
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total


class PeakMemory(threading.Thread):
    """Samples a process tree's resident memory every `interval` seconds until `stop()`; keeps the peak."""

    def __init__(self, root: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak = self.peak_processes = self.samples = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            pids = tree_pids(self.root)
            total = tree_rss(self.root)
            if total > self.peak:
                self.peak, self.peak_processes = total, len(pids)
            self.samples += 1
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)

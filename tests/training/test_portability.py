"""The run lifecycle on every desktop OS: nothing in it needs fcntl, os.kill or /proc (absent or dangerous on
Windows and macOS: on Windows `os.kill(pid, 0)` sends Ctrl-C). psutil and filelock do that work."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from helpers.paths import PROJECT_ROOT

LIFECYCLE = ["cnn_core/training/launch.py", "cnn_core/training/runs.py", "cnn_core/training/job.py",
             "cnn_core/training/live_metrics.py", "cnn_core/training/resume.py", "cnn_core/atomic.py"]

# Loaded first by every Python process of the test (the spawned training process too): as on Windows,
# fcntl cannot be imported, and any os.kill fails loudly.
SITE = """
import os, sys
sys.modules["fcntl"] = None
def _no_kill(*args, **kwargs):
    raise AssertionError("os.kill was called")
os.kill = _no_kill
"""

SCRIPT = """
import sys, time
from cnn_core import processes
from cnn_core.training import launch, runs
from cnn_core.training.config import TrainConfig
with runs.runs_lock():
    pass
run_id = launch.start_run(TrainConfig(filters=[4], batch_size=64, epochs=1), sys.argv[1], "portable", max_images=200)
status = launch.wait_for(run_id, timeout=300)
for _ in range(300):  # the process records its end, then exits: give it a moment (bounded)
    if not processes.process_alive(status["pid"]):
        break
    time.sleep(0.1)
print(status["state"], processes.process_alive(status["pid"]), runs.active_run())
"""


def posix_only_uses(tree: ast.AST) -> list[str]:
    """Calls of os.kill / os.nice / os.getpgid, imports of fcntl, and "/proc" paths in a module's code."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("kill", "nice", "getpgid", "killpg"):
            found.append(f"os.{node.attr}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            found += [name for name in names if name == "fcntl"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
            found.append("/proc")
    return found


def test_no_posix_only_call_is_left_in_the_run_lifecycle():
    assert posix_only_uses(ast.parse("import fcntl\nos.kill(1, 0)\nopen(f'/proc/{pid}/stat')")) == \
        ["fcntl", "os.kill", "/proc"]
    for name in LIFECYCLE:
        tree = ast.parse((PROJECT_ROOT / name).read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node)}
        for node in ast.walk(tree):  # docstrings may name what is avoided
            if isinstance(node, ast.Expr) and id(node.value) in docstrings:
                node.value = ast.Constant("")
        assert posix_only_uses(tree) == [], name


def test_a_run_trains_start_to_finish_without_fcntl_or_os_kill(tmp_path, cifar_subset):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(PROJECT_ROOT)]),
           "CNN_STUDIO_RUNS_DIR": str(tmp_path / "runs"), "CNN_STUDIO_MODELS_DIR": str(tmp_path / "models")}
    finished = subprocess.run([sys.executable, "-c", SCRIPT, str(cifar_subset)], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=400)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.split() == ["finished", "False", "None"]  # done, its process gone, nothing active
    assert (tmp_path / "models" / "portable" / "model.keras").is_file()

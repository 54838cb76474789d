"""Pages that run no model never import TensorFlow (its import costs ~2.5 s and ~500 MB per web process), and the
classify page not before a photo arrives: each is opened in a fresh process through AppTest, the training page with an
augmentation preview and a finished run's report (its test images) on it, and the process is then asked whether
TensorFlow or Keras was ever imported."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from cnn_core.datasets.cifar import CIFAR10_CLASSES
from cnn_core.training import runs
from cnn_core.training.config import TrainConfig

from helpers.paths import APP, PROJECT_ROOT
from helpers.processes import child_env

PROBE = """
import sys
from streamlit.testing.v1 import AppTest

at = AppTest.from_file(sys.argv[1], default_timeout=180)
at.query_params["lang"] = "en"
at.query_params.update(dict(pair.split("=") for pair in sys.argv[3:]))
at.run()
at.switch_page(sys.argv[2]).run()
assert not at.exception, [item.value for item in at.exception]
print("shown:", len(at.main.children) if hasattr(at.main, "children") else 0)
print("imported:", "tensorflow" in sys.modules or "keras" in sys.modules)
"""


def finished_run(data: str) -> str:
    """A finished run on the CIFAR-10 subset, as training leaves it (its report shows the test images)."""
    config = TrainConfig(filters=[4])
    run_id = runs.create_run(config.to_dict(), {"data": data, "model_name": "done", "max_images": 50},
                             state="finished", test_accuracy=0.3, ended=runs.now_iso())
    labels = np.arange(50) % 10
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (labels, labels), 1)
    runs.append_event(run_id, {"type": "finish", "test_accuracy": 1.0, "confusion_matrix": matrix.tolist(),
                               "per_class_accuracy": dict.fromkeys(CIFAR10_CLASSES, 1.0), "seconds": 1.0})
    np.savez(runs.run_folder(run_id) / "predictions.npz", labels=labels, predictions=labels)
    return run_id


@pytest.mark.parametrize(("page", "params"), [
    ("app_pages/home.py", []), ("app_pages/convolution.py", []), ("app_pages/models.py", []),
    ("app_pages/leaderboard.py", []),
    ("app_pages/training.py", ["flip=true", "rotation_degrees=15.0", "shift_fraction=0.1"]),
    ("app_pages/classify.py", []),  # until a photo arrives: the uploader is drawn before TensorFlow is imported
])
def test_a_page_that_runs_no_model_never_imports_tensorflow(page, params, app_dirs, cifar_subset):
    shutil.copytree(PROJECT_ROOT / "models" / "cifar10-subset-best", app_dirs["models"] / "cifar10-subset-best")
    finished_run(str(cifar_subset))
    result = subprocess.run([sys.executable, "-c", PROBE, APP, page, *params], cwd=PROJECT_ROOT, env=child_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported: False" in result.stdout, result.stdout

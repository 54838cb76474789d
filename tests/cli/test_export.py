"""`python -m cnn_core export`: a real subprocess writes each file; bad input exits with status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cnn_core.cli import main as cli
from cnn_core.models import registry
from cnn_core.training.config import TrainConfig
from cnn_core.training.export import keras_code
from cnn_core.training.model import build_model

from helpers.paths import PROJECT_ROOT

TINY = TrainConfig(filters=[4])


@pytest.fixture()
def tiny_model(app_dirs) -> str:
    registry.save_model(build_model(TINY, num_classes=10), "tiny", {"config": TINY.to_dict(), "class_names": list("abcdefghij")})
    return "tiny"


def test_export_writes_the_script_in_a_subprocess(tiny_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "cnn_core", "export", "--model", tiny_model, "--format", "keras-code",
                           "--out", str(out)], cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"model": "tiny", "format": "keras-code", "out": str(out / "train_tiny.py")}
    assert (out / "train_tiny.py").read_text() == keras_code(registry.load_metadata("tiny"))


def test_export_tflite_in_process(tiny_model, tmp_path, capsys):
    assert cli.main(["export", "--model", tiny_model, "--format", "tflite", "--out", str(tmp_path / "m.tflite")]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "m.tflite")
    assert (tmp_path / "m.tflite").read_bytes()[4:8] == b"TFL3"


def test_unknown_model_exits_2(app_dirs, tmp_path, capsys):
    assert cli.main(["export", "--model", "nope", "--format", "keras-code", "--out", str(tmp_path)]) == 2
    assert "no saved model named 'nope'" in capsys.readouterr().err
    assert list(tmp_path.glob("*.py")) == []


def test_bad_format_and_missing_folder_exit_2(tiny_model, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["export", "--model", tiny_model, "--format", "onnx", "--out", str(tmp_path)])
    assert stopped.value.code == 2 and "invalid choice: 'onnx'" in capsys.readouterr().err
    assert cli.main(["export", "--model", tiny_model, "--format", "keras-code",
                     "--out", str(tmp_path / "no" / "x.py")]) == 2
    assert "does not exist" in capsys.readouterr().err

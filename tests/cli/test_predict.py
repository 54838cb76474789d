"""`python -m cnn_core predict`: one JSON line per file, refused files included, exit status 0."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cnn_core.cli import predict as cli_predict
from cnn_core.training.config import TrainConfig

from helpers.colour_task import save_colour_model, train_colour_model
from helpers.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def trained_colour_model():
    """A tiny model trained on the colour task (once per module; a few seconds)."""
    config = TrainConfig(filters=[4], epochs=4)
    return train_colour_model(config), config


@pytest.fixture()
def colour_model(app_dirs, trained_colour_model) -> str:
    """The colour model saved into this test's temporary registry as 'colours'."""
    model, config = trained_colour_model
    return save_colour_model(
        model, config, "colours", train_images=300, test_images=0, test_accuracy=None, per_class_accuracy=None,
        history=[], training_seconds=1.0, run_id=None,
    )


def write_photo(path: Path, colour: tuple[int, int, int], size=(120, 80)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def run_cli(*argv: str) -> tuple[int, list[dict], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    parser = __import__("argparse").ArgumentParser()
    cli_predict.add_arguments(parser)
    status = cli_predict.run(parser.parse_args(list(argv)), stdout=stdout, stderr=stderr)
    return status, [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()


def test_each_file_gets_one_line_in_order_with_sorted_probabilities(colour_model, tmp_path):
    red = write_photo(tmp_path / "red.png", (220, 30, 30))
    blue = write_photo(tmp_path / "blue.jpg", (20, 40, 230), size=(64, 200))
    status, lines, _ = run_cli("--model", colour_model, "--top", "3", str(red), str(blue))
    assert status == 0
    assert [line["file"] for line in lines] == [str(red), str(blue)]
    assert lines[0]["top"][0]["label"] == "red" and lines[1]["top"][0]["label"] == "blue"
    for line in lines:
        probabilities = [entry["p"] for entry in line["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)


def test_refused_and_missing_files_get_an_error_line_and_exit_zero(colour_model, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture at all")
    folder = tmp_path / "folder"
    folder.mkdir()
    green = write_photo(tmp_path / "green.png", (30, 220, 30))
    status, lines, _ = run_cli("--model", colour_model, str(notes), str(tmp_path / "missing.png"), str(folder), str(green))
    assert status == 0
    assert [sorted(line) for line in lines] == [["error", "file"]] * 3 + [["file", "top"]]
    assert "not a picture" in lines[0]["error"]
    assert "No such file" in lines[1]["error"]
    assert "folder" in lines[2]["error"]
    assert lines[3]["top"][0]["label"] == "green"


def test_unknown_model_is_a_usage_error(app_dirs, tmp_path):
    status, lines, stderr = run_cli("--model", "nope", str(write_photo(tmp_path / "a.png", (1, 2, 3))))
    assert status == 2 and lines == [] and "nope" in stderr


def test_without_a_model_name_the_only_model_is_used(colour_model, tmp_path):
    status, lines, _ = run_cli(str(write_photo(tmp_path / "a.png", (220, 30, 30))))
    assert status == 0 and lines[0]["top"][0]["label"] == "red"


def test_python_dash_m_cnn_core_predict(colour_model, tmp_path, app_dirs):
    # The command line contract, end to end in a fresh process.
    red = write_photo(tmp_path / "red.png", (220, 30, 30))
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    result = subprocess.run(
        [sys.executable, "-m", "cnn_core", "predict", "--model", colour_model, str(red), str(text)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=dict(os.environ), timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["file"] == str(red) and lines[0]["top"][0]["label"] == "red"
    assert lines[1]["file"] == str(text) and "error" in lines[1]


def test_lang_zh_writes_cifar_class_names_in_chinese(app_dirs, trained_colour_model, tmp_path):
    model, config = trained_colour_model
    save_colour_model(model, config, "cifar-names", ["airplane", "automobile", "bird"])
    red = write_photo(tmp_path / "red.png", (220, 30, 30))
    status, english, _ = run_cli("--model", "cifar-names", "--top", "3", str(red))
    assert status == 0 and [entry["label"] for entry in english[0]["top"]][0] == "airplane"
    status, chinese, _ = run_cli("--model", "cifar-names", "--top", "3", "--lang", "zh", str(red))
    assert status == 0
    assert [entry["label"] for entry in chinese[0]["top"]] == [
        {"airplane": "飞机", "automobile": "汽车", "bird": "鸟"}[entry["label"]] for entry in english[0]["top"]]
    assert [entry["p"] for entry in chinese[0]["top"]] == [entry["p"] for entry in english[0]["top"]]

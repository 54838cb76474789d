"""`python -m cnn_core train|evaluate`: real subprocesses on the CIFAR-10 subset, and clean input errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnn_core import __version__
from cnn_core.cli import main as cli
from cnn_core.cli import train
from cnn_core.datasets.loading import load_dataset
from cnn_core.models import registry
from cnn_core.training import runs

from helpers.models import DiskFull
from helpers.paths import PROJECT_ROOT

TINY_CONFIG = {"filters": [4], "batch_size": 64}


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m cnn_core ARGS` in the project root, with the test's registry/runs folders (from the env)."""
    return subprocess.run(
        [sys.executable, "-m", "cnn_core", *args], cwd=PROJECT_ROOT, env=dict(os.environ),
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture()
def tiny_config_file(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return path


def test_train_then_evaluate_on_the_subset(app_dirs, cifar_subset, tiny_config_file):
    trained = run_cli("train", "--data", str(cifar_subset), "--preset", "seed", "--config", str(tiny_config_file),
                      "--epochs", "1", "--max-images", "1000", "--name", "CLI Tiny")
    assert trained.returncode == 0, trained.stderr
    lines = [json.loads(line) for line in trained.stdout.strip().splitlines()]  # piped: JSON lines only
    assert len(lines) == 2 and lines[0]["type"] == "epoch" and lines[0]["epoch"] == 1 == lines[0]["last_epoch"]
    assert 0 <= lines[0]["val_accuracy"] <= 1 and lines[0]["images_per_second"] > 0
    assert "\r" not in trained.stderr  # nothing is redrawn when nobody watches
    result = lines[-1]
    assert result["model"] == "cli-tiny" and result["epochs"] == 1 and result["state"] == "finished"
    assert result["seconds"] > 0 and result["images_per_second"] > 0
    metadata = registry.load_metadata("cli-tiny")
    assert metadata["config"]["filters"] == [4] and metadata["config"]["epochs"] == 1
    assert metadata["train_images"] + metadata["validation_images"] == 1000 and metadata["test_images"] == 509
    assert 90 <= metadata["validation_images"] <= 110  # 10 % of each class, held out of the training images
    assert metadata["test_accuracy"] == pytest.approx(result["test_accuracy"])
    from cnn_core.training.snapshots import load_snapshots  # the epoch scrubber's record of the one epoch

    (folder,) = [path.parent for path in app_dirs["runs"].glob("*/snapshots.npz")]
    saved = load_snapshots(folder)
    assert saved["epochs"].tolist() == [1] and saved["filters"].shape[1:] == (3, 3, 3, 4)
    # on the first (up to) 256 validation images: the test split is scored only once, at the end
    assert saved["confusion"].shape == (1, 10, 10) and int(saved["confusion"].sum()) == min(256, metadata["validation_images"])

    evaluated = run_cli("evaluate", "--model", "cli-tiny", "--data", str(cifar_subset))
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout.strip().splitlines()[-1])
    # Independent reference: the saved file loaded straight with Keras, scored with NumPy.
    dataset = load_dataset(cifar_subset)
    model = keras.saving.load_model(app_dirs["models"] / "cli-tiny" / "model.keras", safe_mode=True, compile=False)
    predicted = np.argmax(keras.ops.convert_to_numpy(model(dataset.x_test.astype(np.float32))), axis=1)
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == dataset.y_test))
    assert scores["accuracy"] == pytest.approx(result["test_accuracy"])  # same test split, same model
    for index, name in enumerate(dataset.class_names):
        mask = dataset.y_test == index
        assert scores["per_class"][name] == pytest.approx(np.mean(predicted[mask] == index))
    # The run scored the corruption suite on the test split with the saved model, test-time flip off.
    from cnn_core.classify.corruptions import corrupt
    from cnn_core.models.robustness import NAMES, SUITE

    recorded = metadata["robustness"]
    assert list(recorded) == ["clean", *NAMES, "mean"]
    assert recorded["clean"] == pytest.approx(np.mean(predicted == dataset.y_test))  # the seed preset has no flip
    for corruption in SUITE:
        corrupted = keras.ops.convert_to_numpy(model(corrupt(dataset.x_test, corruption).astype(np.float32)))
        assert recorded[corruption.name] == pytest.approx(np.mean(np.argmax(corrupted, axis=1) == dataset.y_test))
    assert recorded["mean"] == pytest.approx(np.mean([recorded[name] for name in NAMES]))


def test_missing_data_is_a_clean_error(app_dirs, tmp_path):
    missing = tmp_path / "nowhere"
    finished = run_cli("train", "--data", str(missing), "--preset", "seed", "--name", "x")
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1] == f"error: No dataset at {missing}: the path does not exist."
    assert "Traceback" not in finished.stderr and finished.stdout == ""


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "--config", "{missing}"], "Cannot read the config file"),
        (["train", "--config", "{bad_json}"], "is not valid JSON"),
        (["train", "--config", "{deep_json}"], "nested far too deeply"),  # RecursionError once: a traceback
        (["train", "--config", "{huge_number}"], "is not valid JSON"),  # Python's own limit on a number's digits
        (["train", "--config", "{unknown_setting}"], "Unknown setting(s): colour"),
        (["train", "--epochs", "0"], "epochs must be between 1 and 1000"),
        (["train", "--name", "..", "--epochs", "1"], "cannot be used as a model name"),
        (["train", "--resume-from", "nothing-here"], "Nothing to resume"),
        (["evaluate", "--model", "absent", "--data", "x"], "no saved model named 'absent'"),
    ],
)
def test_bad_input_exits_2_with_a_message(app_dirs, tmp_path, capsys, arguments, message):
    files = {"missing": tmp_path / "missing.json", "bad_json": tmp_path / "bad.json",
             "unknown_setting": tmp_path / "unknown.json", "deep_json": tmp_path / "deep.json",
             "huge_number": tmp_path / "huge.json"}
    files["bad_json"].write_text("{ not json")
    files["deep_json"].write_text("[" * 100_000 + "]" * 100_000)
    files["huge_number"].write_text('{"epochs": ' + "9" * 5000 + "}")
    files["unknown_setting"].write_text('{"colour": "red"}')
    arguments = [argument.format(**files) for argument in arguments]
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert list(app_dirs["runs"].iterdir()) == []  # refused before a run was created


def test_evaluate_refuses_a_dataset_with_other_classes(app_dirs, tmp_path, capsys, cifar_subset):
    from cnn_core.training.config import TrainConfig
    from cnn_core.training.model import build_model

    registry.save_model(build_model(TrainConfig(filters=[4]), num_classes=2), "two-classes",
                        {"class_names": ["cats", "dogs"], "config": TrainConfig(filters=[4]).to_dict()})
    assert cli.main(["evaluate", "--model", "two-classes", "--data", str(cifar_subset)]) == 2
    assert "knows the classes cats, dogs" in capsys.readouterr().err


def test_the_parser_has_exactly_one_subcommand_per_module_of_the_cli_package():
    # A new module in cnn_core/cli/ that is not registered in the parser (or a command without a module) fails.
    parser_commands = cli.build_parser()._subparsers._group_actions[0].choices
    shared = {"__init__", "main", "visitor"}  # the parser, and --owner/--admin for every command that opens models
    modules = {path.stem for path in (PROJECT_ROOT / "cnn_core" / "cli").glob("*.py")} - shared
    assert set(parser_commands) == modules
    assert {"train", "evaluate", "predict"} <= modules


@pytest.mark.slow
@pytest.mark.timing
def test_time_budget_covers_the_whole_command(app_dirs, cifar_subset):
    # The quick preset's recipe on 1,000 images, fitted to 40 s: the command (TensorFlow's import, data loading,
    # calibration, training, test evaluation and the registry save) ends within 10 % of the budget and uses most
    # of it. 40 s fit at least three epochs on a busy 2-core AVX2 machine, where the fixed costs (import, loading,
    # tracing the training step while calibrating, the end) take 20-23 s.
    import time

    budget = 40.0
    started = time.monotonic()
    trained = run_cli("train", "--data", str(cifar_subset), "--preset", "quick", "--time-budget", str(budget),
                      "--max-images", "1000", "--name", "budgeted")
    wall = time.monotonic() - started
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert 0.7 * budget <= wall <= 1.1 * budget, f"{wall:.1f} s for a {budget:g} s budget"
    history = registry.load_metadata("budgeted")["history"]
    assert len(history) == result["epochs"] >= 2
    # Scaled, not cut off: the one-cycle schedule has run down to (almost) zero by the last epoch.
    assert history[-1]["learning_rate"] <= 0.01 * max(epoch["learning_rate"] for epoch in history)


def test_epochs_turn_a_presets_time_budget_off_unless_a_budget_is_given():
    parser = cli.build_parser()
    default = train.train_config_from_args(parser.parse_args(["train", "--preset", "default"]))
    assert default.time_budget_seconds > 0  # the preset's own budget
    fixed = train.train_config_from_args(parser.parse_args(["train", "--preset", "default", "--epochs", "7"]))
    assert fixed.epochs == 7 and fixed.time_budget_seconds == 0
    both = train.train_config_from_args(
        parser.parse_args(["train", "--preset", "default", "--epochs", "7", "--time-budget", "60"]))
    assert both.time_budget_seconds == 60


def test_version_and_exit_statuses(app_dirs, cifar_subset, capsys, monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as version:
        cli.main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.strip() == f"cnn-studio {__version__}"
    with pytest.raises(SystemExit) as usage:
        cli.main(["train", "--epochs", "many"])
    assert usage.value.code == 2  # argparse: bad usage
    # A run that fails while it works is a runtime failure (1) and is recorded as failed: here the disk
    # fills up as the trained model is saved, at the very end.
    monkeypatch.setattr(registry, "_inference_copy", lambda model: DiskFull())
    status = cli.main(["train", "--data", str(cifar_subset), "--preset", "seed", "--epochs", "1", "--max-images", "200",
                       "--name", "unsaved"])
    assert status == 1 and "error:" in capsys.readouterr().err
    assert runs.list_runs()[0]["state"] == "failed"


def test_a_terminal_sees_live_progress_and_readable_epochs(capsys):
    progress = train.Progress(terminal=True)
    for event in ({"type": "loading", "data": "x.zip", "images_done": 64, "images_total": 256},
                  {"type": "start", "initial_epoch": 0, "epochs": 2, "steps_per_epoch": 5, "data_source": "x.zip",
                   "time_budget_seconds": 0},
                  {"type": "batch", "epoch": 1, "step": 3, "loss": 1.25},
                  {"type": "epoch", "epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4,
                   "learning_rate": 1e-3, "images_per_second": 900.0, "elapsed": 2.0, "eta": 2.0}):
        progress(event)
    out, err = capsys.readouterr()
    assert "decoding images [#####...............]  25%" in err and "epoch 1/2 step 3  loss 1.2500" in err
    assert out.startswith("epoch 1/2  loss 1.0000  accuracy 50.0%  val_loss 1.1000  val_accuracy 40.0%")
    assert train.bar(1.0).startswith("[" + "#" * 20 + "]")
    long_run = {"type": "start", "epochs": 45, "steps_per_epoch": 72, "data_source": "x", "time_budget_seconds": 340,
                "filters": [64, 128, 256], "widened_from": [48, 96, 192], "weight_decay": 0.1, "mixup_alpha": 0.2}
    assert train.status_text(long_run, 45).startswith("x: 45 epochs of 72 steps, fitted to a 340 s budget; a long run: "
                                                      "filters 64-128-256 instead of 48-96-192, weight decay 0.1, "
                                                      "mixup α 0.2 (")


def test_in_public_mode_train_and_runs_act_as_their_owner(app_dirs, capsys, monkeypatch):
    """The app's rules on the server's shell too: `train` neither continues another's private model nor saves over
    their name (an ownerless save once replaced a student's model); `runs` lists and deletes one's own runs only."""
    from cnn_core.training.config import TrainConfig
    from cnn_core.training.model import build_model

    registry.save_model(build_model(TrainConfig(filters=[4]), num_classes=2), "alices-model",
                        {"class_names": ["cats", "dogs"], "config": TrainConfig(filters=[4]).to_dict(),
                         "owner": "alice"})
    alices_run = runs.create_run(TrainConfig(filters=[4]).to_dict(), {"data": None, "model_name": "a"},
                                 state="finished", owner="alice")
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    for arguments, message in ((["--resume-from", "alices-model", "--owner", "bob"], "no saved model named"),
                               (["--name", "Alices_Model", "--epochs", "1", "--owner", "bob"], "alices-model")):
        assert cli.main(["train", *arguments]) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["runs", "--owner", "bob"]) == 0 and capsys.readouterr().out == ""
    assert cli.main(["runs", "--delete", alices_run, "--owner", "bob"]) == 2 and (app_dirs["runs"] / alices_run).exists()
    assert cli.main(["runs", "--owner", "alice"]) == 0 and alices_run in capsys.readouterr().out
    assert cli.main(["runs", "--delete", alices_run, "--admin"]) == 0 and not (app_dirs["runs"] / alices_run).exists()
    capsys.readouterr()
    # A place in line counts everyone's queued runs, though only one's own are listed.
    for owner, queued_at in (("alice", 1.0), ("bob", 2.0)):
        runs.create_run(TrainConfig(filters=[4]).to_dict(), {"data": None, "model_name": owner}, state="queued",
                        owner=owner, queued_at=queued_at)
    assert cli.main(["runs", "--owner", "bob"]) == 0
    assert [json.loads(line)["position"] for line in capsys.readouterr().out.splitlines()] == [2]

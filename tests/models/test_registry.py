"""The model registry: safe names, round trips, atomic saves that never lose the previous model."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core.models import registry
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model
from cnn_core.paths import models_dir
from helpers.models import IMAGES, DiskFull, outputs
from helpers.paths import PROJECT_ROOT


def tiny_model(seed: int = 0) -> keras.Model:
    return build_model(TrainConfig(filters=[4], seed=seed))


def metadata(**extra) -> dict:
    return {"config": TrainConfig(filters=[4]).to_dict(), "class_names": [str(i) for i in range(10)], **extra}


# --- Names. ---


@pytest.mark.parametrize(
    "name, expected",
    [("My Model", "my-model"), ("cifar10_quick-2", "cifar10_quick-2"), ("../../etc/passwd", "etc-passwd"),
     ("a/b\\c", "a-b-c"), ("  Ünïcode!! ", "n-code"), ("x" * 100, "x" * 64)],
)
def test_sanitize_name_keeps_safe_characters(name, expected):
    assert registry.sanitize_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", ".", "..", "/", "../..", "___", "-.-"])
def test_sanitize_name_rejects_names_without_letters_or_digits(name):
    with pytest.raises(registry.RegistryError, match="cannot be used"):
        registry.sanitize_name(name)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_sanitized_names_always_stay_inside_the_models_folder(name):
    try:
        cleaned = registry.sanitize_name(name)
    except registry.RegistryError:
        return
    assert 1 <= len(cleaned) <= 64
    assert set(cleaned) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")
    root = models_dir().resolve()
    assert (root / cleaned).resolve().parent == root


# --- Round trip. ---


def test_save_then_load_predicts_the_same(app_dirs):
    model = tiny_model()
    folder = registry.save_model(model, "Round Trip", metadata(test_accuracy=0.5))
    assert folder == app_dirs["models"] / "round-trip"
    loaded = registry.load_model("round-trip")
    np.testing.assert_array_equal(outputs(loaded), outputs(model))
    saved = registry.load_metadata("round-trip")
    assert saved["name"] == "round-trip" and saved["test_accuracy"] == 0.5
    assert saved["keras_version"] == keras.__version__ and saved["created"]
    assert registry.model_file("round-trip") == folder / "model.keras"
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]  # no temp files left


def test_a_trained_model_is_saved_without_its_optimizer_so_plain_keras_loads_it(app_dirs):
    from cnn_core.training.model import compile_model

    config = TrainConfig(filters=[4], schedule="cosine")
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=2, epochs=1)
    model.fit(IMAGES, np.eye(10)[np.arange(6) % 10], epochs=1, verbose=0)
    registry.save_model(model, "trained", metadata())
    # A fresh interpreter with only Keras: no cnn_core import registers our learning-rate schedule.
    script = "import keras, sys; print(getattr(keras.saving.load_model(sys.argv[1]), \"optimizer\", None) is None)"
    finished = subprocess.run(
        [sys.executable, "-c", script, str(registry.model_file("trained"))], capture_output=True, text=True,
        cwd=app_dirs["data"], timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip() == "True"
    np.testing.assert_array_equal(outputs(registry.load_model("trained")), outputs(model))


def test_list_models_newest_first_and_skips_broken_entries(app_dirs):
    registry.save_model(tiny_model(), "older", metadata(created="2026-01-01T00:00:00+00:00"))
    registry.save_model(tiny_model(), "newer", metadata(created="2026-02-01T00:00:00+00:00"))
    broken_json = app_dirs["models"] / "broken-json"
    broken_json.mkdir()
    (broken_json / "model.keras").write_bytes(b"not a zip")
    (broken_json / "metadata.json").write_text("{ nope")
    no_model = app_dirs["models"] / "no-model"
    no_model.mkdir()
    (no_model / "metadata.json").write_text(json.dumps(metadata()))
    assert [entry["name"] for entry in registry.list_models()] == ["newer", "older"]


def test_delete_model_removes_it(app_dirs):
    registry.save_model(tiny_model(), "gone", metadata())
    registry.delete_model("gone")
    assert not (app_dirs["models"] / "gone").exists()
    assert registry.list_models() == []
    with pytest.raises(registry.RegistryError):
        registry.delete_model("gone")


def test_missing_and_corrupt_models_raise_registry_errors(app_dirs):
    with pytest.raises(registry.RegistryError, match="no saved model"):
        registry.load_model("absent")
    with pytest.raises(registry.RegistryError, match="no saved model"):
        registry.load_metadata("absent")
    corrupt = app_dirs["models"] / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(registry.RegistryError, match="could not be loaded"):
        registry.load_model("corrupt")


def test_load_model_refuses_unsafe_lambda_layers(app_dirs):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    folder = app_dirs["models"] / "lambda"
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "metadata.json").write_text(json.dumps(metadata()))
    with pytest.raises(registry.RegistryError, match="could not be loaded"):
        registry.load_model("lambda")


# --- Atomicity: a failed save never costs the previous model. ---


def test_second_save_keeps_the_previous_file_as_backup(app_dirs, tmp_path):
    first, second = tiny_model(seed=1), tiny_model(seed=2)
    registry.save_model(first, "kept", metadata(version=1))
    registry.save_model(second, "kept", metadata(version=2))
    np.testing.assert_array_equal(outputs(registry.load_model("kept")), outputs(second))
    backup = tmp_path / "backup.keras"  # Keras only loads files named *.keras
    shutil.copy(app_dirs["models"] / "kept" / "model.keras.bak", backup)
    np.testing.assert_array_equal(outputs(keras.saving.load_model(backup, safe_mode=True)), outputs(first))
    assert json.loads((app_dirs["models"] / "kept" / "metadata.json.bak").read_text())["version"] == 1


@pytest.mark.parametrize("failure", ["reload", "mismatch", "rename"])
def test_failed_save_leaves_the_previous_model_loadable(app_dirs, monkeypatch, failure):
    first = tiny_model(seed=1)
    registry.save_model(first, "safe", metadata(version=1))
    before = (app_dirs["models"] / "safe" / "model.keras").read_bytes()

    with monkeypatch.context() as patch:  # undone at the end of the block; app_dirs' settings stay
        if failure == "reload":
            def broken_load(*args, **kwargs):
                raise OSError("disk error while reading back")

            patch.setattr(keras.saving, "load_model", broken_load)
        elif failure == "mismatch":
            patch.setattr(keras.saving, "load_model", lambda *args, **kwargs: tiny_model(seed=99))
        else:
            real_replace = os.replace

            def broken_replace(source, target):
                if str(target).endswith("model.keras"):
                    raise OSError("No space left on device")
                real_replace(source, target)

            patch.setattr(os, "replace", broken_replace)
        expected = {"reload": "could not be reloaded", "mismatch": "predicts differently", "rename": "No space"}
        with pytest.raises((registry.RegistryError, OSError), match=expected[failure]):
            registry.save_model(tiny_model(seed=2), "safe", metadata(version=2))

    folder = app_dirs["models"] / "safe"
    assert (folder / "model.keras").read_bytes() == before
    np.testing.assert_array_equal(outputs(registry.load_model("safe")), outputs(first))
    assert registry.load_metadata("safe")["version"] == 1
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]


# --- Faults while writing: a full disk, a crash between the two renames, a killed process. ---


def saved_state(folder) -> dict:
    """Every file of a model folder with its bytes (hidden temp files included)."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_full_disk_while_writing_the_model_keeps_everything_saved(app_dirs, monkeypatch):
    registry.save_model(tiny_model(seed=1), "kept", metadata(version=1))
    registry.save_model(tiny_model(seed=3), "neighbour", metadata(version=1))
    before = {name: saved_state(app_dirs["models"] / name) for name in ("kept", "neighbour")}
    monkeypatch.setattr(registry, "_inference_copy", lambda model: DiskFull())
    for name in ("kept", "brand-new"):
        with pytest.raises(registry.RegistryError, match="No space left on device.*previous version"):
            registry.save_model(tiny_model(seed=2), name, metadata(version=2))
    assert {name: saved_state(app_dirs["models"] / name) for name in ("kept", "neighbour")} == before
    assert sorted(entry["name"] for entry in registry.list_models()) == ["kept", "neighbour"]
    assert not (app_dirs["models"] / "brand-new" / "model.keras").exists()  # no half-written model appears
    np.testing.assert_array_equal(outputs(registry.load_model("kept")), outputs(tiny_model(seed=1)))


def test_a_full_disk_while_writing_the_metadata_keeps_the_previous_model(app_dirs, monkeypatch):
    registry.save_model(tiny_model(seed=1), "kept", metadata(version=1))
    before = saved_state(app_dirs["models"] / "kept")

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(registry, "write_json_file", full)
    with pytest.raises(registry.RegistryError, match="No space left"):
        registry.save_model(tiny_model(seed=2), "kept", metadata(version=2))
    assert saved_state(app_dirs["models"] / "kept") == before


@pytest.mark.parametrize("existing", [True, False])
def test_a_failure_between_the_two_renames_puts_the_previous_model_back(app_dirs, monkeypatch, existing):
    if existing:
        registry.save_model(tiny_model(seed=1), "pair", metadata(version=1, class_names=list("abcdefghij")))
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith("metadata.json"):
            raise OSError(errno.EIO, "Input/output error", str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(registry.RegistryError, match="Input/output error"):
        registry.save_model(tiny_model(seed=2), "pair", metadata(version=2, class_names=list("0123456789")))
    monkeypatch.setattr(os, "replace", real_replace)
    if existing:  # the model and its metadata still belong together: the old model is back in place
        np.testing.assert_array_equal(outputs(registry.load_model("pair")), outputs(tiny_model(seed=1)))
        assert registry.load_metadata("pair")["class_names"] == list("abcdefghij")
    else:  # a first save that failed leaves no model at all, rather than one without metadata
        assert registry.list_models() == [] and not (app_dirs["models"] / "pair" / "model.keras").exists()
    assert not [path.name for path in (app_dirs["models"] / "pair").iterdir() if path.name.startswith(".")]


KILLED_SAVER = """
import os, sys, time
import numpy as np
from cnn_core.models import registry
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model

def slow_copy(model):
    class Half:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"PK\\x03\\x04 half of a model")
                handle.flush()
            print("WRITING", flush=True)
            time.sleep(60)  # killed here, mid-write
    return Half()

registry._inference_copy = slow_copy
registry.save_model(build_model(TrainConfig(filters=[4], seed=2)), "victim", {"version": 2})
"""


def test_a_process_killed_while_saving_leaves_the_previous_model_and_no_half_file(app_dirs):
    registry.save_model(tiny_model(seed=1), "victim", metadata(version=1))
    before = saved_state(app_dirs["models"] / "victim")
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVER], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd=PROJECT_ROOT)
    try:
        assert child.stdout.readline().strip() == "WRITING"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    folder = app_dirs["models"] / "victim"
    leftovers = [name for name in saved_state(folder) if name not in before]
    assert len(leftovers) == 1 and leftovers[0].startswith(".")  # the half file: hidden, never model.keras
    assert {name: data for name, data in saved_state(folder).items() if name in before} == before
    assert [entry["version"] for entry in registry.list_models()] == [1]
    np.testing.assert_array_equal(outputs(registry.load_model("victim")), outputs(tiny_model(seed=1)))
    registry.save_model(tiny_model(seed=4), "victim", metadata(version=3))  # the next save clears it away
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]


def test_symlinked_model_folders_are_neither_listed_nor_used(app_dirs, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    registry.save_model(tiny_model(), "real", metadata())
    shutil.copytree(app_dirs["models"] / "real", outside / "copy")
    (app_dirs["models"] / "sneaky").symlink_to(outside / "copy", target_is_directory=True)
    assert [entry["name"] for entry in registry.list_models()] == ["real"]
    for action in (registry.load_model, registry.load_metadata, registry.delete_model):
        with pytest.raises(registry.RegistryError, match="outside"):
            action("sneaky")
    with pytest.raises(registry.RegistryError, match="outside"):
        registry.save_model(tiny_model(), "sneaky", metadata())
    assert sorted(path.name for path in (outside / "copy").iterdir()) == ["metadata.json", "model.keras"]


@pytest.mark.parametrize("name", ["con", "NUL", "aux", "com1", "Lpt9", "prn"])
def test_windows_device_names_are_refused(name):
    with pytest.raises(registry.RegistryError) as caught:
        registry.sanitize_name(name)
    assert caught.value.reason == "reserved_name"
    assert registry.sanitize_name(name + "-model") == name.lower() + "-model"  # a longer name is fine

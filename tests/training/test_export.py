"""Exports: the generated Keras script rebuilds the app's model exactly and trains; SavedModel and TFLite agree.

References: the app's own `build_model` / `make_optimizer` / `learning_rate_at` for the script, and the
app's model (`predict_probabilities`, no test-time flip) for the SavedModel and TFLite files, read back by
TensorFlow's own loaders (`tf.saved_model.load`, `tf.lite.Interpreter`).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pickle
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnn_core.classify.inference import predict_probabilities
from cnn_core.datasets.base import stratified_holdout
from cnn_core.datasets.cifar import CIFAR10_CLASSES
from cnn_core.datasets.loading import load_dataset
from cnn_core.models import registry
from cnn_core.training import export
from cnn_core.training.config import PRESETS, TrainConfig
from cnn_core.training.export import SETTING_COMMENTS, ExportError, export_model, keras_code
from cnn_core.training.model import (
    build_model,
    learning_rate_schedule,
    make_optimizer,
    whitening_weights,
)
from cnn_core.training.progressive import epoch_side
from cnn_core.training.schedules import learning_rate_at

from helpers.class_folders import class_files, write_tree
from helpers.mixup import marked_images, read_blends
from helpers.processes import child_env

SHIPPED = "cifar10-subset-best"
DENSE = TrainConfig(filters=[8, 16], pooling="avg", head="flatten", dense_units=[32, 16], dropout_rate=0.3,
                    rotation_degrees=10.0, mixup_alpha=0.3, optimizer="sgd", weight_decay=1e-3, schedule="cosine",
                    warmup_fraction=0.1, label_smoothing=0.05, batch_size=16, seed=7, noise_std=6.0, blur_sigma=0.8,
                    jpeg_quality=40, whitening_max_gain=12.0)
CONFIGS = {"seed": PRESETS["seed"], "quick": PRESETS["quick"], "default": PRESETS["default"], "dense": DENSE,
           "bn_end_valid": TrainConfig(filters=[8, 8], convs_per_block=2, batch_norm=True, kernel_size=5,
                                       optimizer="adam", weight_decay=1e-4, schedule="linear", seed=3)}
AGREEMENT = 0.995  # the bar for exported vs app top-1 classes on the test split


def metadata_for(config: TrainConfig, name: str = "m", **extra) -> dict:
    return {"name": name, "config": config.to_dict(), "class_names": CIFAR10_CLASSES, **extra}


def load_script(path):
    """The generated file imported as a module (its main() does not run on import)."""
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def script_for(tmp_path):
    def make(config: TrainConfig, **extra):
        path = tmp_path / "train_m.py"
        path.write_text(keras_code(metadata_for(config, **extra)), encoding="utf-8")
        return load_script(path)

    return make


# --- keras-code: the same network, optimizer, schedule and loss as the app's. ---


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_script_builds_the_apps_model_weight_for_weight(script_for, config_name):
    config = CONFIGS[config_name]
    app_model, script_model = build_model(config, num_classes=10), script_for(config).build_model(10)
    assert script_model.count_params() == app_model.count_params()
    assert [(layer.name, type(layer).__name__) for layer in script_model.layers] == \
        [(layer.name, type(layer).__name__) for layer in app_model.layers]
    # Same initializer seeds: the very same starting weights.
    for ours, theirs in zip(script_model.get_weights(), app_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("config_name", ["default", "dense"])
def test_script_is_lint_clean(tmp_path, config_name):
    # What a learner reads should pass the project's own linter (pyflakes, isort, 120 columns).
    pytest.importorskip("ruff")
    path = tmp_path / "train_m.py"
    path.write_text(keras_code(metadata_for(CONFIGS[config_name])), encoding="utf-8")
    linted = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I",
                             "--line-length", "120", str(path)], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout


def test_a_model_name_cannot_inject_code():
    source = keras_code(metadata_for(PRESETS["seed"], name='x"""\nimport os; os.remove("important")\n"""'))
    compile(source, "train.py", "exec")
    assert "os.remove" not in source and "import os;" not in source


def test_script_settings_are_the_runs(script_for):
    module = script_for(DENSE, epochs_trained=12)
    for key, (constant, _) in SETTING_COMMENTS.items():
        assert getattr(module, constant) == getattr(DENSE, key), key
    assert module.SEED == 7 and module.EPOCHS == 12  # the epochs the model trained, not config.epochs
    # The run's validation share; settings from before that setting existed get the default.
    assert module.VALIDATION_FRACTION == getattr(DENSE, "validation_fraction", export.DEFAULT_VALIDATION_FRACTION)


def test_script_holds_out_the_same_validation_images_as_the_app(script_for):
    labels = np.random.default_rng(3).integers(0, 10, 777)
    images = np.arange(777)[:, None]
    module = script_for(DENSE)
    _, _, held_images, held_labels = module.hold_out(images, labels, 0.1)
    expected = stratified_holdout(labels, 0.1, DENSE.seed)
    np.testing.assert_array_equal(held_images[:, 0], np.flatnonzero(expected))
    np.testing.assert_array_equal(held_labels, labels[expected])


@pytest.mark.parametrize("schedule", ["constant", "cosine", "one_cycle", "linear"])
@pytest.mark.parametrize("warmup", [0.0, 0.2])
def test_script_schedule_matches_the_apps(script_for, schedule, warmup):
    config = TrainConfig(schedule=schedule, warmup_fraction=warmup, learning_rate=3e-3)
    total = 50
    schedule_object = script_for(config).WarmupDecaySchedule(total)
    ours = [float(keras.ops.convert_to_numpy(schedule_object(step))) for step in range(total + 3)]
    np.testing.assert_allclose(ours, [learning_rate_at(config, step, total) for step in range(total + 3)],
                               rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("config_name", ["seed", "quick", "dense", "bn_end_valid"])
def test_script_optimizer_matches_the_apps(script_for, config_name):
    config = CONFIGS[config_name]
    ours, theirs = script_for(config).make_optimizer(100), make_optimizer(config, learning_rate_schedule(config, 100))
    assert type(ours) is type(theirs)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    for values in (ours_config, theirs_config):
        values.pop("learning_rate"), values.pop("name")  # the schedule is compared above
    assert ours_config == theirs_config
    for spared in ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern"):  # set only with decay
        assert getattr(ours, spared, None) == getattr(theirs, spared, None)
    if config.weight_decay > 0:
        assert theirs._exclude_from_weight_decay_pattern  # the comparison above saw the NO_DECAY_NAMES


def test_script_trains_with_the_runs_loss(script_for):
    module = script_for(DENSE)
    model = module.build_model(3)
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    module.train(model, images, labels, images[:2], labels[:2], epochs=1)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(DENSE.label_smoothing)
    assert int(model.optimizer.iterations) == 1  # 8 images, batch size 16: one step


def test_script_mixup_blends_images_and_labels_alike(script_for):
    from scipy import stats

    module = script_for(TrainConfig(mixup_alpha=0.3, batch_size=16))
    labels = keras.utils.to_categorical(np.arange(40) % 3, 3)
    batches = module.TrainingBatches(marked_images(40), labels, np.random.default_rng(0))
    assert len(batches) == 3
    shares, pairs = [], []
    for _ in range(6):
        blends = [blend for index in range(len(batches)) for blend in read_blends(*batches[index], labels)]
        batches.on_epoch_end()
        shares += [share for _, share in blends if share is not None]  # None: blended with itself
        pairs.append({marked for marked, _ in blends})
    assert pairs[0] != pairs[1]
    assert stats.kstest(shares, stats.beta(0.3, 0.3).cdf).pvalue > 1e-3


def test_script_blurs_and_compresses_as_the_app_does(script_for, cifar_subset):
    from cnn_core.training.model import gaussian_blur

    module = script_for(DENSE)  # blur up to 0.8 pixels: kernels of radius 3
    images = load_dataset(cifar_subset).x_train[:8].astype(np.float32)
    sigmas = np.linspace(0.05, 0.8, 8)
    np.testing.assert_allclose(module.gaussian_blur(images, sigmas), gaussian_blur(images, sigmas, radius=3).numpy(),
                               atol=1e-3)
    qualities = [40, 55, 70, 85, 100, 40, 60, 90]
    expected = [tf.image.adjust_jpeg_quality(image.astype(np.uint8), quality).numpy()  # the app's codec
                for image, quality in zip(images, qualities)]
    np.testing.assert_array_equal(module.jpeg_round_trip(images, qualities), np.stack(expected))


def test_script_noise_spreads_are_drawn_per_image_up_to_the_setting(script_for):
    from scipy import stats

    module = script_for(TrainConfig(noise_std=16.0, batch_size=50))
    grey = np.full((200, 32, 32, 3), 128, dtype=np.uint8)
    batches = module.TrainingBatches(grey, keras.utils.to_categorical(np.arange(200) % 3, 3), np.random.default_rng(0))
    noise = np.concatenate([batches[index][0] for index in range(len(batches))]) - 128.0
    spreads = noise.reshape(200, -1).std(axis=1)
    assert abs(noise.mean()) < 0.1 and spreads.max() <= 16 * 1.05
    assert stats.kstest(spreads, stats.uniform(0, 16).cdf).pvalue > 1e-3


def test_script_gives_each_image_one_camera_augmentation_as_the_app_does(script_for):
    module = script_for(TrainConfig(noise_std=16.0, blur_sigma=1.0, batch_size=100))
    grey = np.full((400, 32, 32, 3), 128, dtype=np.uint8)  # blur leaves flat grey as it is, noise does not
    batches = module.TrainingBatches(grey, keras.utils.to_categorical(np.arange(400) % 3, 3), np.random.default_rng(0))
    images = np.concatenate([batches[index][0] for index in range(len(batches))])
    untouched = (images - 128.0).reshape(400, -1).std(axis=1) < 1e-3
    assert 0.4 < untouched.mean() < 0.6  # blur or noise, half each


def test_script_batches_shrink_after_augmenting(script_for):
    module = script_for(TrainConfig(noise_std=4.0, batch_size=10, head="global_avg", progressive_resizing=True))
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    shrunk, labels = module.TrainingBatches(images, np.eye(3)[np.arange(20) % 3], np.random.default_rng(0), 16)[0]
    assert shrunk.shape == (10, 16, 16, 3) and labels.shape == (10, 3)


def test_script_reads_class_folders(script_for, tmp_path):
    module = script_for(PRESETS["seed"])
    root = write_tree(tmp_path / "shapes", class_files({"red": (250, 0, 0), "blue": (0, 0, 250)}, per_class=10,
                                                       size=(40, 20)))
    x_train, y_train, x_test, y_test, class_names = module.load_data(str(root))
    assert class_names == ["blue", "red"] and x_train.dtype == np.uint8 and x_train.shape[1:] == (32, 32, 3)
    assert len(y_train) == 16 and len(y_test) == 4  # CLASS_FOLDER_TEST_FRACTION of 20 images
    # Solid colours survive the centre crop and the resize: label 1 ("red") is red.
    images, labels = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    np.testing.assert_allclose(images[labels == 1].mean(axis=(0, 1, 2)), [250, 0, 0], atol=2)


def test_script_refuses_a_pickle_that_would_run_code(script_for, tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this ran",))

    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        script_for(PRESETS["seed"]).read_batch(path)


def test_script_whitens_as_the_app_does(script_for, cifar_subset):
    images = load_dataset(cifar_subset).x_train[:300]
    for patch in (1, 2):
        script = script_for(TrainConfig(filters=[8], whitening_patch=patch))
        for ours, theirs in zip(script.whitening_weights(images), whitening_weights(images, patch), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    capped = script_for(TrainConfig(filters=[8], whitening_patch=2, whitening_max_gain=10.0))
    for ours, theirs in zip(capped.whitening_weights(images), whitening_weights(images, 2, max_gain=10.0), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("epochs", [1, 2, 3, 12])
def test_script_shrinks_the_same_epochs_as_the_app(script_for, epochs):
    script = script_for(TrainConfig(filters=[8], head="global_avg", progressive_resizing=True))
    assert script.phase_sides(epochs) == [epoch_side(epoch, epochs, 32) for epoch in range(epochs)]


@pytest.mark.parametrize(("config", "epochs"), [
    (TrainConfig(whitening_patch=2), 1),  # the seed tutorial's model behind a whitening layer
    (TrainConfig(filters=[8, 16], padding="same", head="global_avg", progressive_resizing=True), 3),  # 16, 24, 32
])
def test_script_trains_in_a_fresh_process(tmp_path, cifar_subset, config, epochs):
    path = tmp_path / "train_seed.py"
    path.write_text(keras_code(metadata_for(config)), encoding="utf-8")
    # Without the app's settings around it: the script itself turns on the oneDNN kernels (TensorFlow logs so).
    env = child_env(TF_ENABLE_ONEDNN_OPTS=None, TF_CPP_MIN_LOG_LEVEL=None)
    done = subprocess.run([sys.executable, str(path), "--data", str(cifar_subset), "--epochs", str(epochs)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "oneDNN custom operations are on" in done.stderr, done.stderr[-3000:]
    if config.progressive_resizing:  # one fit per image size: epoch 1 (16 x 16), "Epoch 2/2" (24 x 24), "Epoch 3/3"
        assert all(f"Epoch {epoch}/{epoch}" in done.stdout for epoch in range(2, epochs + 1)), done.stdout[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < result["test_accuracy"] <= 1
    assert result["parameters"] == build_model(config, num_classes=10).count_params()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.ImportFrom)}
    # No cnn_core; TensorFlow (Keras' backend) only inside the JPEG augmentation, for its JPEG codec.
    assert imported == {"argparse", "json", "math", "os", "pickle", "pathlib", "keras", "numpy", "tensorflow"}


# --- SavedModel and TFLite: the same top-1 class as the app's model on the test split. ---


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped trained model, its predictions (no test-time flip) and the subset's test images."""
    from helpers.paths import CIFAR_SUBSET, PROJECT_ROOT

    if not (CIFAR_SUBSET / "batches.meta").exists():
        pytest.skip("CIFAR-10 subset not found")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_STUDIO_MODELS_DIR", str(PROJECT_ROOT / "models"))
        model = registry.load_model(SHIPPED)
    images = load_dataset(CIFAR_SUBSET).x_test.astype(np.float32)
    return model, images, predict_probabilities(model, images, test_time_flip=False)


def agreement(probabilities: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == np.argmax(reference, axis=1)))


def test_saved_model_agrees_with_the_app(shipped, tmp_path):
    model, images, reference = shipped
    folder = export.export_saved_model(model, tmp_path / "exported")
    loaded = tf.saved_model.load(str(folder))
    served = np.concatenate([loaded.serve(images[start:start + 128]).numpy() for start in range(0, len(images), 128)])
    assert agreement(served, reference) >= AGREEMENT
    np.testing.assert_allclose(served, reference, atol=1e-4)  # inference mode: no augmentation in the export
    np.testing.assert_array_equal(loaded.serve(images[:16]).numpy(), loaded.serve(images[:16]).numpy())


def test_tflite_agrees_with_the_app(shipped, tmp_path):
    model, images, reference = shipped
    path = tmp_path / "model.tflite"
    export.write_tflite(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    (given,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(given["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], images)
    interpreter.invoke()
    probabilities = interpreter.get_tensor(output["index"])
    assert agreement(probabilities, reference) >= AGREEMENT
    np.testing.assert_allclose(probabilities, reference, atol=1e-4)


# --- Writing: atomic, never over someone else's files. ---


@pytest.fixture()
def tiny_saved(app_dirs):
    model = build_model(TrainConfig(filters=[4]), num_classes=10)
    registry.save_model(model, "tiny", metadata_for(TrainConfig(filters=[4]), name="tiny"))
    return "tiny"


def test_export_model_writes_each_format_by_name(tiny_saved, tmp_path):
    tmp_path = tmp_path / "out"  # beside app_dirs' folders
    tmp_path.mkdir()
    script = export_model(tiny_saved, "keras-code", tmp_path)  # a folder: the default name inside
    assert script == tmp_path / "train_tiny.py" and "def build_model" in script.read_text()
    tflite = export_model(tiny_saved, "tflite", tmp_path / "m.tflite")
    assert tflite.read_bytes()[4:8] == b"TFL3"  # the flat buffer's file identifier
    folder = export_model(tiny_saved, "saved_model", tmp_path / "sm")
    assert (folder / "saved_model.pb").is_file()
    assert export_model(tiny_saved, "saved_model", tmp_path / "sm") == folder  # an earlier export is replaced
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.tflite", "sm", "train_tiny.py"]  # no temp left


def test_export_never_replaces_other_things(tiny_saved, tmp_path):
    keep = tmp_path / "photos"
    keep.mkdir()
    (keep / "cat.jpg").write_bytes(b"mine")
    with pytest.raises(ExportError, match="in the way"):
        export_model(tiny_saved, "saved_model", keep)
    assert [path.name for path in keep.iterdir()] == ["cat.jpg"]
    with pytest.raises(ExportError, match="does not exist"):
        export_model(tiny_saved, "tflite", tmp_path / "missing" / "m.tflite")
    with pytest.raises(ExportError, match="Unknown export format"):
        export_model(tiny_saved, "onnx", tmp_path / "m.onnx")
    with pytest.raises(registry.RegistryError):
        export_model("no-such-model", "keras-code", tmp_path)


def test_a_failed_export_keeps_the_previous_file(tiny_saved, tmp_path, monkeypatch):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous")

    def disk_full(model, path):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_tflite", disk_full)
    with pytest.raises(ExportError, match="No space left"):
        export_model(tiny_saved, "tflite", target)
    assert target.read_bytes() == b"previous" and [path.name for path in tmp_path.iterdir()] == ["m.tflite"]


def test_page_downloads_are_the_same_exports(tiny_saved):
    import io
    import zipfile

    assert export.keras_code_bytes(tiny_saved).decode() == keras_code(registry.load_metadata(tiny_saved))
    with zipfile.ZipFile(io.BytesIO(export.saved_model_zip(tiny_saved))) as archive:
        assert "tiny_saved_model/saved_model.pb" in archive.namelist()
    assert export.tflite_bytes(tiny_saved)[4:8] == b"TFL3"

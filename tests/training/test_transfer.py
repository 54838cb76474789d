"""Importing a model = our schema + a weights file; everything else is refused with a message."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from cnn_core import i18n
from cnn_core.training import transfer
from cnn_core.training.config import TrainConfig
from cnn_core.training.layers import parameter_count
from cnn_core.training.model import build_model
from cnn_core.training.transfer import ModelImportError, build_with_weights, parse_import_config

from helpers.paths import PROJECT_ROOT

SMALL = TrainConfig(filters=[4, 8], padding="same", batch_norm=True, head="global_avg")
CLASSES = ["cat", "dog", "bird"]


def description(config: TrainConfig = SMALL, class_names=CLASSES, **extra) -> bytes:
    return json.dumps({"config": config.to_dict(), "class_names": class_names, **extra}).encode()


def weights_of(model: keras.Model, tmp_path, name: str = "model.weights.h5") -> bytes:
    path = tmp_path / name
    model.save_weights(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def source_model() -> keras.Model:
    """A model 'trained elsewhere': our architecture with non-default weights."""
    model = build_model(SMALL, num_classes=3)
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.2, weight.shape).astype("float32") + (1.0 if "variance" in weight.path else 0.0))
    return model


# --- The JSON schema. ---


def test_a_valid_description_parses():
    config, names, dataset = parse_import_config(description(dataset="my photos"))
    assert config == SMALL and names == CLASSES and dataset == "my photos"


def test_a_bare_training_config_means_cifar10_classes():
    config, names, _ = parse_import_config(SMALL.to_json().encode())
    assert config == SMALL and len(names) == 10 and names[0] == "airplane"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"config": {"filters": [8], "activation": "keras.layers.Lambda"}, "class_names": CLASSES}, "activation"),
        ({"config": {"filters": [8], "enable_unsafe_deserialization": True}, "class_names": CLASSES}, "Unknown setting"),
        ({"config": {"filters": [8]}, "class_names": CLASSES, "enable_unsafe_deserialization": True}, "Unknown key"),
        ({"module": "keras.src.models.functional", "class_name": "Functional",
          "config": {"layers": [{"class_name": "Lambda", "config": {"function": "os.system"}}]}}, "Unknown key"),
        ({"class_name": "Lambda", "module": "builtins"}, "Unknown setting"),
        ({"config": {"filters": [8]}, "class_names": ["only one"]}, "between 2"),
        ({"config": {"filters": [8]}, "class_names": ["a", "a"]}, "different"),
        ({"config": {"filters": [8]}, "class_names": "cat,dog"}, "list of strings"),
        ({"config": {"filters": [8], "kernel_size": 99}, "class_names": CLASSES}, "kernel_size"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_the_schema_refuses_anything_outside_it(document, message):
    with pytest.raises(ModelImportError, match=message):
        parse_import_config(json.dumps(document).encode())


def test_non_json_and_oversized_descriptions_are_refused():
    with pytest.raises(ModelImportError, match="not valid JSON"):
        parse_import_config(b"\x89PNG not json")
    with pytest.raises(ModelImportError, match="larger than"):
        parse_import_config(b" " * (transfer.MAX_CONFIG_BYTES + 1))
    assert issubclass(ModelImportError, ValueError)


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(),
        TrainConfig(filters=[8, 16], convs_per_block=2, padding="same", batch_norm=True, head="global_avg"),
        TrainConfig(filters=[4, 4], kernel_size=5, padding="valid", pooling="avg", dense_units=[7, 5]),
        TrainConfig(filters=[3], pooling="none", pool_size=3, dense_units=[6]),
    ],
)
def test_parameter_count_matches_keras(config):
    assert parameter_count(config, 10) == build_model(config, 10).count_params()


def test_a_huge_architecture_is_refused_before_it_is_built(tmp_path, monkeypatch):
    huge = TrainConfig(filters=[2048] * 4, convs_per_block=6, kernel_size=11, padding="same")
    monkeypatch.setattr("cnn_core.training.model.build_model", lambda *args, **kwargs: pytest.fail("built a huge model"))
    with pytest.raises(ModelImportError, match="import limit"):
        build_with_weights(huge, CLASSES, transfer.HDF5_SIGNATURE + b"\0" * 100)


# --- The weights file. ---


def test_matching_weights_load_into_our_architecture(source_model, tmp_path):
    model = build_with_weights(SMALL, CLASSES, weights_of(source_model, tmp_path), "model.weights.h5")
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model(images, training=False), source_model(images, training=False), atol=1e-6)


def test_weights_of_another_architecture_are_refused_with_a_short_message(tmp_path):
    other = build_model(TrainConfig(filters=[4, 16], padding="same", batch_norm=True, head="global_avg"), 3)
    with pytest.raises(ModelImportError, match="do not fit") as error:
        build_with_weights(SMALL, CLASSES, weights_of(other, tmp_path))
    assert "6 array(s) have the wrong shape" in str(error.value) and len(str(error.value)) < 600
    fewer_blocks = build_model(TrainConfig(filters=[4], padding="same", batch_norm=True, head="global_avg"), 3)
    with pytest.raises(ModelImportError, match="missing"):
        build_with_weights(SMALL, CLASSES, weights_of(fewer_blocks, tmp_path))
    with pytest.raises(ModelImportError, match="do not fit"):  # same layers, 4 classes instead of 3
        build_with_weights(SMALL, CLASSES + ["fish"], weights_of(build_model(SMALL, 3), tmp_path))


def test_full_model_files_are_never_deserialised(source_model, tmp_path, monkeypatch):
    monkeypatch.setattr(keras.saving, "load_model", lambda *args, **kwargs: pytest.fail("deserialised"))
    keras_file = tmp_path / "model.keras"
    source_model.save(keras_file)
    with pytest.raises(ModelImportError, match="full Keras model"):
        build_with_weights(SMALL, CLASSES, keras_file.read_bytes(), "model.weights.h5")
    # A zip renamed to .weights.h5 is still recognised by its bytes.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Lambda"}')
    with pytest.raises(ModelImportError, match="full Keras model"):
        build_with_weights(SMALL, CLASSES, buffer.getvalue())
    # A legacy full-model HDF5 file has the wrong layout.
    legacy = tmp_path / "legacy.h5"
    source_model.save(legacy)
    with pytest.raises(ModelImportError):
        build_with_weights(SMALL, CLASSES, legacy.read_bytes())
    with pytest.raises(ModelImportError, match=r"\.weights\.h5"):
        build_with_weights(SMALL, CLASSES, legacy.read_bytes(), "legacy.h5")


def test_non_hdf5_and_oversized_weights_are_refused(source_model, tmp_path, monkeypatch):
    with pytest.raises(ModelImportError, match="HDF5"):
        build_with_weights(SMALL, CLASSES, b"GIF89a" + b"\0" * 100)
    with pytest.raises(ModelImportError, match="cannot be read"):
        build_with_weights(SMALL, CLASSES, transfer.HDF5_SIGNATURE + b"\0" * 100)
    monkeypatch.setattr(transfer, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(ModelImportError, match="larger than"):
        build_with_weights(SMALL, CLASSES, weights_of(source_model, tmp_path))


def _rewrite(tmp_path, source_model, change) -> bytes:
    """The source weights with one change made through h5py."""
    path = tmp_path / "edited.weights.h5"
    source_model.save_weights(path)
    with h5py.File(path, "r+") as handle:
        change(handle, tmp_path)
    return path.read_bytes()


def _first_array(handle: h5py.File) -> str:
    names = []
    handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(names)[0]


def test_links_to_other_files_are_refused(source_model, tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as handle:
        handle["data"] = np.ones(4, dtype="float32")

    def external(handle, _):
        name = _first_array(handle)
        del handle[name]
        handle[name] = h5py.ExternalLink(str(secret), "data")

    with pytest.raises(ModelImportError, match="links elsewhere"):
        build_with_weights(SMALL, CLASSES, _rewrite(tmp_path, source_model, external))

    def soft(handle, _):
        name = _first_array(handle)
        del handle[name]
        handle[name] = h5py.SoftLink("/layers")

    with pytest.raises(ModelImportError, match="links elsewhere"):
        build_with_weights(SMALL, CLASSES, _rewrite(tmp_path, source_model, soft))


def test_arrays_stored_in_external_raw_files_are_refused(source_model, tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(4, dtype="float32").tobytes())

    def external_storage(handle, _):
        name = _first_array(handle)
        shape = handle[name].shape
        raw.write_bytes(np.zeros(shape, dtype="float32").tobytes())
        del handle[name]
        handle.create_dataset(name, shape=shape, dtype="float32", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])

    with pytest.raises(ModelImportError, match="outside itself"):
        build_with_weights(SMALL, CLASSES, _rewrite(tmp_path, source_model, external_storage))


def test_nan_weights_are_refused(source_model, tmp_path):
    def poison(handle, _):
        name = _first_array(handle)
        values = handle[name][...]
        values.flat[0] = np.nan
        handle[name][...] = values

    with pytest.raises(ModelImportError, match="NaN"):
        build_with_weights(SMALL, CLASSES, _rewrite(tmp_path, source_model, poison))


# --- Into the registry. ---


def test_import_saves_a_working_model_into_the_registry(source_model, app_dirs, tmp_path):
    from cnn_core.models import registry

    saved = transfer.import_model("My Import", description(), weights_of(source_model, tmp_path),
                                      weights_filename="model.weights.h5")
    metadata = registry.load_metadata(saved)
    assert metadata["class_names"] == CLASSES and metadata["imported"] is True
    assert metadata["test_accuracy"] is None  # not measured here, so not claimed
    loaded = registry.load_model(saved)
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(images, training=False), source_model(images, training=False), atol=1e-6)
    with pytest.raises(ModelImportError, match="already exists"):
        transfer.import_model(saved, description(), weights_of(source_model, tmp_path))
    with pytest.raises(ModelImportError, match="'my-import' already exists"):  # the same name as people read it
        transfer.import_model("MY_IMPORT", description(), weights_of(source_model, tmp_path))
    mine = transfer.import_model("visitors", description(), weights_of(source_model, tmp_path), owner="anon-ann")
    assert registry.load_metadata(mine)["owner"] == "anon-ann"  # on a shared server it is the importer's to see
    # A hostile name is made safe by the registry: it lands inside the models folder.
    escaped = transfer.import_model("../../escape", description(), weights_of(source_model, tmp_path))
    assert (app_dirs["models"] / escaped / "model.keras").is_file()
    assert not (app_dirs["models"].parent.parent / "escape").exists()
    with pytest.raises(ModelImportError, match="model name"):
        transfer.import_model("../..", description(), weights_of(source_model, tmp_path))


def test_another_cnn_studios_metadata_and_weights_import_as_they_are(app_dirs, tmp_path):
    """The shipped model's own metadata.json (what a training job writes) plus its weights: a round trip."""
    from cnn_core.models import registry

    shipped = PROJECT_ROOT / "models" / "cifar10-subset-best"
    original = keras.saving.load_model(shipped / "model.keras", safe_mode=True)
    metadata = (shipped / "metadata.json").read_bytes()
    saved = transfer.import_model("from-elsewhere", metadata, weights_of(original, tmp_path))
    imported = registry.load_metadata(saved)
    assert imported["class_names"] == json.loads(metadata)["class_names"] and imported["test_accuracy"] is None
    about = i18n.message_from_record(imported["dataset_about"])  # the uploader's words, quoted, not trusted
    assert about.text("en") == f"Imported; the uploader describes its training data as: {json.loads(metadata)['dataset']}"
    assert about.text("zh").startswith("导入的模型；上传者对其训练数据的描述：CIFAR-10 subset at ")
    images = np.random.default_rng(5).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(registry.load_model(saved)(images, training=False), original(images, training=False),
                               atol=1e-5)


def test_an_exported_model_imports_back_with_the_same_predictions(source_model, app_dirs):
    from cnn_core.models import registry

    about = i18n.Message("datasets.folders_validation", {"classes": 3, "location": "/pets", "train": 90, "test": 30})
    registry.save_model(source_model, "pets", {
        "name": "pets", "config": SMALL.to_dict(), "class_names": CLASSES, "dataset": about.text("en"),
        "dataset_about": i18n.message_record(about), "test_accuracy": 0.9,
        "history": [{"epoch": epoch, "loss": 1.0, "note": "x" * 500} for epoch in range(200)],  # ~100 KB
    })
    description_file = transfer.export_description("pets")
    assert len(description_file) < transfer.MAX_CONFIG_BYTES and b"history" not in description_file
    copy = transfer.import_model("pets-copy", description_file, transfer.export_weights("pets"))
    metadata = registry.load_metadata(copy)
    assert metadata["class_names"] == CLASSES and metadata["config"] == SMALL.to_dict()
    assert i18n.message_from_record(metadata["dataset_about"]).text("zh") == \
        "导入的模型；上传者对其训练数据的描述：3 class folders at /pets (90 train / 30 test, drawn per class)"
    images = np.random.default_rng(6).integers(0, 256, (3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(registry.load_model(copy)(images, training=False),
                               source_model(images, training=False), atol=1e-6)


def test_weights_of_a_trained_model_with_optimizer_state_load(tmp_path):
    keras.utils.set_random_seed(0)
    trained = build_model(SMALL, num_classes=3)
    trained.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(4).integers(0, 256, (16, 32, 32, 3)).astype("float32")
    trained.fit(images, np.arange(16) % 3, epochs=1, verbose=0)
    data = weights_of(trained, tmp_path)
    with h5py.File(io.BytesIO(data), "r") as handle:
        assert "optimizer" in handle  # Adam's moments travel with the weights
    model = build_with_weights(SMALL, CLASSES, data)
    np.testing.assert_allclose(model(images, training=False), trained(images, training=False), atol=1e-6)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"[" * 60_000, "nested"),  # json.loads would raise RecursionError, not a JSON error
        (b'{"config": {"filters": [' + b"9" * 5000 + b"]}}", "not valid JSON"),  # integers past Python's limit
        (json.dumps({"config": {"filters": [2048] * 8, "convs_per_block": 6, "kernel_size": 11, "padding": "same",
                                "pooling": "none"}, "class_names": CLASSES}).encode(), "limit"),
        (json.dumps({"config": {"filters": [8]}, "class_names": CLASSES,
                     "layers": [{"class_name": "Lambda", "module": "keras.layers", "config": {}}]}).encode(), "Unknown key"),
        (json.dumps({"config": {"filters": [8], "activation": {"class_name": "Lambda"}}, "class_names": CLASSES}).encode(),
         "activation"),
    ],
)
def test_hostile_descriptions_are_refused_with_a_model_import_error(data, message):
    with pytest.raises(ModelImportError, match=message) as caught:
        parse_import_config(data)
    assert len(str(caught.value)) < 600


def test_a_weights_file_with_a_broken_checksum_is_refused_with_a_message(source_model, tmp_path):
    """h5py raises OSError while reading a chunk whose Fletcher-32 checksum fails: a message, no server path."""
    def checksummed(handle, _):
        name = _first_array(handle)
        values = handle[name][...]
        del handle[name]
        handle.create_dataset(name, data=values, chunks=values.shape, fletcher32=True)

    data = bytearray(_rewrite(tmp_path, source_model, checksummed))
    path = tmp_path / "checked.weights.h5"
    path.write_bytes(data)
    with h5py.File(path, "r") as handle:
        offset = handle[_first_array(handle)].id.get_chunk_info(0).byte_offset
    data[offset] ^= 0xFF  # one flipped byte inside the array's stored chunk
    with pytest.raises(ModelImportError) as caught:
        build_with_weights(SMALL, CLASSES, bytes(data))
    assert caught.value.reason == "weights_unreadable" and "cnn-studio-import" not in str(caught.value)

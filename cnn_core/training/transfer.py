"""Import a model someone trained elsewhere, without ever deserialising a model file from them.

Keras' `safe_mode` has been bypassed again and again (CVE-2025-1550, -8747, -9905, -9906, ...): a
`.keras` or full-model `.h5` file can name layers, functions and modules to run. So an import here is
two plain-data files:

1. a JSON document our own schema validates: `{"config": {TrainConfig settings}, "class_names": [...]}`
   (a registry `metadata.json` also works; a bare TrainConfig means the ten CIFAR-10 classes);
2. a `.weights.h5` file (`model.save_weights("x.weights.h5")`): arrays only.

`export_description` and `export_weights` write those two files for a saved model (the saved-models page
offers them), so models travel between CNN Studios without a `.keras` file.

We build the architecture ourselves (cnn_core.training.model.build_model), check the weights file holds
exactly the arrays that architecture has (same paths, shapes, float32; no links to other files),
load them, and save the result through the registry like any trained model.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core import i18n
from cnn_core.datasets.base import MAX_CLASSES
from cnn_core.i18n import Message, TranslatableError
from cnn_core.models import registry
from cnn_core.training.config import MAX_PARAMETERS, ConfigError, TrainConfig
from cnn_core.training.layers import parameter_count

MAX_CONFIG_BYTES = 64 * 1024
MAX_WEIGHTS_BYTES = 4 * MAX_PARAMETERS  # 64 MB: the largest network TrainConfig allows, as float32
MAX_H5_OBJECTS = 10_000  # groups + datasets walked before a weights file counts as hostile
MIN_KERAS_VERSION = (3, 12)  # fixes for the safe_mode bypasses above
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
WEIGHTS_SUFFIX = ".weights.h5"
OPTIMIZER_PREFIX = "/optimizer/"  # optimizer state in a trained model's weights file, ignored
# Keys a registry metadata.json may carry besides config and class_names (what cnn_core.training.job and this
# module write), so another CNN Studio's metadata.json imports as it is; accepted but not trusted.
METADATA_KEYS = {
    "name", "dataset", "dataset_about", "train_images", "test_images", "test_accuracy", "per_class_accuracy",
    "confusion_matrix", "history", "created", "training_seconds", "keras_version", "run_id", "epochs_trained",
    "best_epoch", "resumed_from", "images_per_second", "stopped_by", "shipped", "imported", "note", "source",
    "validation_images", "validation_accuracy", "owner", "precision", "robustness",
}


class ModelImportError(TranslatableError, ValueError):
    """An import refused; the message says why and what to upload instead."""

    section = "errors.model_import"


# --- 1. The JSON document. ---


def parse_import_config(data: bytes, class_names: list[str] | None = None) -> tuple[TrainConfig, list[str], str]:
    """Validate the uploaded JSON: (config, class names, the dataset as the uploader describes it)."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelImportError("config_too_large", kilobytes=MAX_CONFIG_BYTES // 1024)
    try:
        document = json.loads(data)
    except RecursionError:
        raise ModelImportError("config_too_deep") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers with thousands of digits
        raise ModelImportError("config_bad_json", reason=str(error)[:200]) from None
    if not isinstance(document, dict):
        raise ModelImportError("config_not_an_object")
    description = "unknown"
    if "config" in document:
        unknown = sorted(set(document) - {"config", "class_names"} - METADATA_KEYS)
        if unknown:
            raise ModelImportError("unknown_keys", names=", ".join(unknown))
        settings, class_names = document["config"], document.get("class_names", class_names)
        if isinstance(document.get("dataset"), str):
            description = document["dataset"][:300]
    else:
        settings = document  # a bare TrainConfig, as the training page downloads it
    if class_names is None:
        from cnn_core.datasets.cifar import CIFAR10_CLASSES

        class_names = list(CIFAR10_CLASSES)
    try:
        config = TrainConfig.from_dict(settings)
    except ConfigError as error:
        raise ModelImportError("config_refused", error=error) from None
    return config, _check_class_names(class_names), description


def _check_class_names(class_names: Any) -> list[str]:
    if not isinstance(class_names, list) or not all(isinstance(name, str) for name in class_names):
        raise ModelImportError("class_names_not_strings", name="class_names")
    names = [name.strip() for name in class_names]
    if not 2 <= len(names) <= MAX_CLASSES:
        raise ModelImportError("class_count", limit=MAX_CLASSES, count=len(names))
    if any(not name or len(name) > 64 for name in names):
        raise ModelImportError("class_name_length", limit=64)
    if len(set(names)) != len(names):
        raise ModelImportError("class_names_repeat")
    return names


# --- 2. The weights file. ---


def _h5_arrays(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every dataset in an HDF5 file as path -> (shape, dtype), refusing links, external and virtual data."""
    import h5py

    arrays: dict[str, tuple[tuple[int, ...], str]] = {}
    seen = 0
    with h5py.File(path, "r") as handle:
        pending = [("", handle)]
        while pending:
            prefix, group = pending.pop()
            for key in group:
                seen += 1
                if seen > MAX_H5_OBJECTS:
                    raise ModelImportError("weights_too_many_entries")
                name = f"{prefix}/{key}"
                if not isinstance(group.get(key, getlink=True), h5py.HardLink):
                    # Soft and external links can point at other files on the server.
                    raise ModelImportError("weights_link", name=name)
                item = group[key]
                if isinstance(item, h5py.Group):
                    pending.append((name, item))
                elif item.is_virtual or item.external:
                    raise ModelImportError("weights_external", name=name)
                else:
                    arrays[name] = (tuple(int(side) for side in item.shape), str(item.dtype))
    return arrays


def _refuse_non_weights(data: bytes, filename: str | None) -> None:
    """Recognise full-model files (never loaded) and anything that is not HDF5 weights."""
    if data[:4] == b"PK\x03\x04" or (filename or "").lower().endswith(".keras"):
        raise ModelImportError("full_model")
    if filename is not None and not filename.lower().endswith(WEIGHTS_SUFFIX):
        raise ModelImportError("weights_suffix", suffix=WEIGHTS_SUFFIX, name=filename)
    if len(data) > MAX_WEIGHTS_BYTES:
        raise ModelImportError("weights_too_large", megabytes=MAX_WEIGHTS_BYTES // 2**20)
    if not data.startswith(HDF5_SIGNATURE):
        raise ModelImportError("not_hdf5")


def build_with_weights(config: TrainConfig, class_names: list[str], weights: bytes, filename: str | None = None):
    """The architecture we build from `config`, with the uploaded weights loaded after every check."""
    import keras

    from cnn_core.training.model import build_model

    if tuple(int(part) for part in keras.__version__.split(".")[:2]) < MIN_KERAS_VERSION:
        raise ModelImportError("keras_too_old", version=".".join(map(str, MIN_KERAS_VERSION)))
    _refuse_non_weights(weights, filename)
    parameters = parameter_count(config, len(class_names))
    if 4 * parameters > MAX_WEIGHTS_BYTES:
        raise ModelImportError("too_many_weights", weights=parameters, limit=MAX_WEIGHTS_BYTES // 4)
    try:
        model = build_model(config, num_classes=len(class_names))
    except ConfigError as error:
        raise ModelImportError("config_not_buildable", error=error) from None
    with tempfile.TemporaryDirectory(prefix="cnn-studio-import-") as folder:
        reference, upload = Path(folder, "reference.weights.h5"), Path(folder, "upload.weights.h5")
        model.save_weights(reference)
        upload.write_bytes(weights)
        try:
            uploaded = _h5_arrays(upload)
        except OSError as error:
            raise ModelImportError("weights_unreadable", reason=_h5_reason(error, folder)) from None
        # A trained model's file also holds its optimizer's state (Adam moments): not needed to classify.
        uploaded = {path: spec for path, spec in uploaded.items() if not path.startswith(OPTIMIZER_PREFIX)}
        _compare(_h5_arrays(reference), uploaded)
        _copy_arrays(upload, reference, uploaded, folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model.load_weights(reference)
            except Exception as error:  # Keras' messages print whole arrays; keep ours short.
                raise ModelImportError("weights_do_not_load", reason=type(error).__name__) from None
    if not all(np.isfinite(keras.ops.convert_to_numpy(weight)).all() for weight in model.weights):
        raise ModelImportError("weights_not_finite")
    return model


def _h5_reason(error: Exception, folder: str) -> str:
    """HDF5's own words, short and without the server's temporary folder in them."""
    return str(error).replace(folder, "…")[:200] or type(error).__name__


def _copy_arrays(source: Path, target: Path, paths, folder: str) -> None:
    """Copy the checked arrays into our own freshly written weights file, which Keras then loads.

    Keras only ever reads a file we wrote, with the uploaded numbers in it: nothing else of the upload
    (attributes, optimizer state, unexpected groups) reaches it.
    """
    import h5py

    try:  # the arrays are only read here: a damaged chunk or a bad checksum fails now
        with h5py.File(source, "r") as uploaded, h5py.File(target, "r+") as ours:
            for path in paths:
                ours[path][...] = uploaded[path][...]
    except (OSError, RuntimeError, TypeError, KeyError) as error:
        raise ModelImportError("weights_unreadable", reason=_h5_reason(error, folder)) from None


def _compare(expected: dict, uploaded: dict) -> None:
    """Refuse unless the uploaded file holds exactly the arrays our architecture has."""
    missing = sorted(set(expected) - set(uploaded))
    extra = sorted(set(uploaded) - set(expected))
    wrong = sorted(name for name in set(expected) & set(uploaded) if expected[name] != uploaded[name])
    if not (missing or extra or wrong):
        return
    details = []  # put into words in the reader's language, like the error around them
    if wrong:
        name = wrong[0]
        details.append(Message("errors.model_import.arrays_wrong", {
            "count": len(wrong), "name": name, "expected": f"{expected[name][0]} {expected[name][1]}",
            "got": f"{uploaded[name][0]} {uploaded[name][1]}"}))
    if missing:
        details.append(Message("errors.model_import.arrays_missing", {"count": len(missing), "name": missing[0]}))
    if extra:
        details.append(Message("errors.model_import.arrays_extra", {"count": len(extra), "name": extra[0]}))
    raise ModelImportError("weights_do_not_fit", details=details)


# --- 3. Into the registry. ---


def import_model(name: str, config_data: bytes, weights: bytes, *, weights_filename: str | None = None,
                 class_names: list[str] | None = None, owner: str | None = None) -> str:
    """Validate, build, load and save an uploaded model under `name` (owned by `owner`, the visitor importing it on
    a shared server); returns the registry name. A name that reads like a saved one's (registry.name_key) is taken:
    an import never replaces a model."""
    import keras

    try:
        safe_name = registry.sanitize_name(name)
    except ValueError as error:
        raise ModelImportError("bad_name", error=error) from None
    if taken := next((entry["name"] for entry in registry.list_models()
                      if registry.name_key(entry["name"]) == registry.name_key(safe_name)), None):
        raise ModelImportError("name_taken", name=taken)
    config, names, description = parse_import_config(config_data, class_names)
    model = build_with_weights(config, names, weights, weights_filename)
    about = i18n.Message("datasets.imported", {"description": description})
    metadata = {
        "name": safe_name,
        "config": config.to_dict(),
        "class_names": names,
        "dataset": about.text("en"),
        "dataset_about": i18n.message_record(about),
        "train_images": None,
        "test_images": None,
        "test_accuracy": None,  # never measured here, so not claimed
        "per_class_accuracy": None,
        "history": [],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_seconds": None,
        "keras_version": keras.__version__,
        "run_id": None,
        "imported": True,
        "owner": owner,
    }
    registry.save_model(model, safe_name, metadata)
    return safe_name


# --- Export: a saved model as the two files an import takes (no file that can run code). ---

EXPORTED_KEYS = ("name", "config", "class_names", "dataset", "dataset_about", "train_images", "test_images",
                 "test_accuracy", "created", "keras_version")  # not the history: it could outgrow MAX_CONFIG_BYTES


def export_description(name: str) -> bytes:
    """The JSON half of an export: the model's settings, classes and where its data came from."""
    metadata = registry.load_metadata(name)
    document = {key: metadata[key] for key in EXPORTED_KEYS if key in metadata}
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def export_weights(name: str) -> bytes:
    """The weights half of an export: `model.save_weights` output, arrays only."""
    model = registry.load_model(name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.weights.h5"
        model.save_weights(path)
        return path.read_bytes()

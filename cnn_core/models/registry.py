"""The model registry: `models/<name>/model.keras` + `metadata.json`, written so nothing saved is lost.

Keras' `model.save` writes in place, so a crash or a full disk half-way through would destroy the
previous model. `save_model` therefore writes a temp file beside the target, reloads it with
`safe_mode=True` and checks that it predicts exactly what the live model predicts, and only then
renames it over `model.keras` (atomic). The previous file stays as `model.keras.bak`. Saved models carry
no optimizer state, so a downloaded file loads in plain Keras without any of our code.

Protected models (shipped with the app, or marked by an admin: cnn_core.models.protection) are never
deleted or overwritten: `save_model` and `delete_model` raise ProtectedError, whoever calls them.

Keras is imported inside the functions that need it, so listing models (home page, classify page
menus) does not pay the ~0.5 GB TensorFlow import.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from cnn_core.atomic import (
    fsync_directory,
    fsync_file,
    read_json,
    remove_stale_temps,
    temp_path_for,
    write_json_atomic,
    write_json_file,
)
from cnn_core.i18n import TranslatableError
from cnn_core.models.protection import check_writable
from cnn_core.paths import models_dir

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
BACKUP_SUFFIX = ".bak"
MAX_NAME_LENGTH = 64
# Reloaded and live model must agree this closely on the check images (float32 round trip is exact;
# the tolerance only absorbs a different op order after reloading).
RELOAD_TOLERANCE = 1e-5


class RegistryError(TranslatableError, ValueError):
    """A model name that cannot be used, or a model that cannot be found, saved or loaded."""

    section = "errors.registry"


# Device names Windows will not create as files or folders (in any case, with any extension): a model folder
# called "con" could not be copied to, or downloaded on, a Windows machine.
WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"{port}{number}" for port in ("com", "lpt")
                                                                   for number in range(10))})


def sanitize_name(name: str) -> str:
    """A safe folder name: lowercase letters, digits, `-` and `_`, 1..64 characters.

    Anything else (spaces, slashes, dots, `..`) becomes `-`, so a name can never leave models_dir().
    """
    if not isinstance(name, str):
        raise RegistryError("name_not_text")
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-_")[:MAX_NAME_LENGTH].strip("-_")
    if not cleaned:
        raise RegistryError("bad_name", name=name)
    if cleaned in WINDOWS_RESERVED:
        raise RegistryError("reserved_name", name=cleaned)
    return cleaned


def name_key(name: str) -> str:
    """A name as people would mistake it for another: case, "_", "-" and spaces folded ("VICTIM_MODEL" and
    "victim-model" share one), for checking who owns a name."""
    return re.sub(r"[-_]+", "-", sanitize_name(name))


def _folder(name: str) -> Path:
    root = models_dir().resolve()
    folder = (root / sanitize_name(name)).resolve()
    if folder.parent != root:  # belt and braces: sanitize_name already rules this out
        raise RegistryError("outside_folder", name=name)
    return folder


def model_file(name: str) -> Path:
    """Path of a saved model's `model.keras` (its mtime makes a good cache key); RegistryError if absent."""
    path = _folder(name) / MODEL_FILE
    if not path.is_file():
        raise RegistryError("no_such_model", name=sanitize_name(name))
    return path


def model_bytes(name: str) -> bytes:
    """A saved model's `model.keras`, whole (a download); RegistryError if absent."""
    return model_file(name).read_bytes()


def _check_images(model) -> np.ndarray:
    """A fixed batch of pseudo-random pixel images shaped like the model's input."""
    shape = tuple(int(size) for size in model.input_shape[1:])
    return np.random.default_rng(0).integers(0, 256, size=(4, *shape)).astype(np.float32)


def _outputs(model, images: np.ndarray) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(model(images, training=False))


def save_model(model, name: str, metadata: dict[str, Any]) -> Path:
    """Save atomically (temp file, reload and compare, os.replace; previous kept as .bak); returns the folder.

    Model and metadata are both fully written and checked before either replaces its predecessor, and a
    failure between the two renames puts the previous model back, so readers never get a model with
    another model's metadata. A full or read-only disk raises RegistryError; the previous version stays.
    """
    import keras

    folder = _folder(name)
    target, metadata_path = folder / MODEL_FILE, folder / METADATA_FILE
    if target.exists():
        check_writable(folder.name, "overwrite")  # ProtectedError: shipped or marked by an admin
        _check_same_owner(folder, metadata.get("owner"))
    record = dict(metadata)
    record["name"] = folder.name
    record.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    record.setdefault("keras_version", keras.__version__)
    temp = temp_path_for(target, suffix=".keras")  # Keras picks the format from the extension
    temp_metadata = temp_path_for(metadata_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(folder)  # left by a process killed mid-save
        _write_checked_copy(model, temp, folder.name)
        write_json_file(temp_metadata, record)
        _keep_backup(target)
        _keep_backup(metadata_path)
        os.replace(temp, target)
        try:
            os.replace(temp_metadata, metadata_path)
        except OSError:
            _restore_backup(target)
            raise
        fsync_directory(folder)
    except OSError as error:
        raise RegistryError("not_written", name=folder.name, reason=str(error)) from error
    finally:
        temp.unlink(missing_ok=True)
        temp_metadata.unlink(missing_ok=True)
    return folder


def _check_same_owner(folder: Path, owner: str | None) -> None:
    """On a shared server a model is replaced only by its own owner's run (models without an owner: anyone's)."""
    try:
        previous = read_json(folder / METADATA_FILE).get("owner")
    except (OSError, ValueError, AttributeError):
        return
    if owner and previous and owner != previous:
        raise RegistryError("owned_by_other", name=folder.name)


def set_shared(name: str, shared: bool) -> None:
    """Share a model with everyone on the server (or stop sharing it): a flag in its metadata, rewritten atomically."""
    metadata = load_metadata(name)
    metadata["shared"] = bool(shared)
    write_json_atomic(_folder(name) / METADATA_FILE, metadata)


def _write_checked_copy(model, temp: Path, name: str) -> None:
    """Write `model` to `temp`, read it back and check that it predicts exactly what `model` predicts."""
    import keras

    _inference_copy(model).save(temp)
    fsync_file(temp)
    try:
        reloaded = keras.saving.load_model(temp, safe_mode=True, compile=False)
        images = _check_images(model)
        same = np.allclose(_outputs(model, images), _outputs(reloaded, images), atol=RELOAD_TOLERANCE)
    except Exception as error:  # any failure to read back means the file is not trustworthy
        raise RegistryError("copy_not_reloaded", name=name, reason=str(error)) from error
    if not same:
        raise RegistryError("copy_differs", name=name)


def _restore_backup(path: Path) -> None:
    """Undo a replace of `path`: its .bak (the version before) back in place, or no file if there was none."""
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if not backup.exists():
        path.unlink(missing_ok=True)
        return
    temp = temp_path_for(path)
    try:
        shutil.copy2(backup, temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _inference_copy(model):
    """The model without its optimizer: the file then loads in plain Keras (no custom schedule class
    needed) and is a third of the size. Resuming builds a fresh optimizer anyway."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())  # keras.models.clone_model would compile the copy too
    copy.set_weights(model.get_weights())
    return copy


def _keep_backup(path: Path) -> None:
    """Make `path.bak` a copy of `path` without a moment where `path` itself is missing."""
    if not path.exists():
        return
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    temp = temp_path_for(backup)
    try:
        try:
            os.link(path, temp)  # a hard link costs no copy; the later os.replace gives `path` a new inode
        except OSError:
            shutil.copy2(path, temp)
        os.replace(temp, backup)
    finally:
        temp.unlink(missing_ok=True)


def load_metadata(name: str) -> dict[str, Any]:
    """The metadata dict of a saved model; RegistryError if missing or unreadable."""
    path = _folder(name) / METADATA_FILE
    try:
        metadata = read_json(path)
    except FileNotFoundError:
        raise RegistryError("no_such_model", name=sanitize_name(name)) from None
    except (OSError, ValueError) as error:
        raise RegistryError("metadata_unreadable", name=sanitize_name(name), reason=str(error)) from None
    if not isinstance(metadata, dict):
        raise RegistryError("metadata_not_an_object", name=sanitize_name(name))
    metadata["name"] = path.parent.name
    return metadata


def load_model(name: str):
    """The saved Keras model (`safe_mode=True`, not compiled: ready to predict or to be recompiled)."""
    import keras

    path = model_file(name)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # corrupt zip, unknown layer, unsafe content: one clear message
        raise RegistryError("not_loaded", name=path.parent.name, reason=str(error)) from None


def list_models() -> list[dict[str, Any]]:
    """Metadata of every saved model, newest first; unreadable or incomplete entries are skipped."""
    root = models_dir()
    if not root.is_dir():
        return []
    models = []
    for folder in root.iterdir():
        # Hidden names are temp files and half-deleted folders; symlinks could point anywhere on the server.
        if folder.name.startswith(".") or folder.is_symlink() or not (folder / MODEL_FILE).is_file():
            continue
        try:
            metadata = read_json(folder / METADATA_FILE)
        except (OSError, ValueError):
            continue
        if isinstance(metadata, dict):
            metadata["name"] = folder.name
            models.append(metadata)
    return sorted(models, key=lambda item: (str(item.get("created", "")), item["name"]), reverse=True)


def rename_model(name: str, new_name: str) -> str:
    """Give a saved model a new name (its folder renamed in one step, then its metadata); returns the new name.

    RegistryError if there is no such model or the new name is taken (a rename never replaces a model);
    ProtectedError if the model is protected (its name is what protects it).
    """
    folder, target = _folder(name), _folder(new_name)
    if not folder.is_dir():
        raise RegistryError("no_such_model", name=folder.name)
    check_writable(folder.name, "rename")
    if target.exists():
        raise RegistryError("name_taken", name=target.name)
    try:
        os.rename(folder, target)  # atomic; fails rather than replace a folder that appeared meanwhile
    except OSError as error:
        raise RegistryError("not_written", name=target.name, reason=str(error)) from error
    metadata = load_metadata(target.name)
    write_json_atomic(target / METADATA_FILE, {**metadata, "name": target.name})
    return target.name


def delete_model(name: str) -> None:
    """Remove a saved model and its backups; RegistryError if there is none, ProtectedError if it is protected."""
    folder = _folder(name)
    if not folder.is_dir():
        raise RegistryError("no_such_model", name=folder.name)
    check_writable(folder.name, "delete")
    # Rename first (atomic), so listings never see a half-deleted folder; hidden names are skipped.
    trash = folder.with_name(f".deleting-{folder.name}-{uuid.uuid4().hex[:8]}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)

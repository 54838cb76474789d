"""Exports of a saved model: a Keras script that trains it again, a TensorFlow SavedModel, a TFLite file.

- "keras-code": one readable Python file (Keras + NumPy only, no cnn_core) that rebuilds the model's
  architecture, augmentation, optimizer, schedule and loss from its settings and trains it from scratch
  (`templates/train_keras.py.tmpl`, with the run's settings written in as constants at the top).
- "saved_model": a TensorFlow SavedModel folder whose `serve(images)` endpoint gives the class probabilities
  for raw pixels (float32, 0..255, shape (n, 32, 32, 3)); TensorFlow Serving and `tf.saved_model.load` read it.
- "tflite": a LiteRT (TensorFlow Lite) flat buffer for phones and small boards, made by Keras'
  `model.export(format="litert")` with TensorFlow's own converter (no extra package).

Both model exports run the network in inference mode: augmentation is off, batch norm uses its moving
statistics. Keras' plain `model.export(format="tf_saved_model")` serves `model(x)` without `training=False`,
and Keras 3's random augmentation layers then stay on (their own default), so the SavedModel is written the
way Keras writes its LiteRT export: an `ExportArchive` endpoint that calls the model with `training=False`.
Test-time flip (averaging with the mirror image) is the app's choice at prediction time, not part of the
network, so exported models never do it; a caller that wants it averages the two predictions itself.

Every export is written to a temp path beside the target and renamed over it only once complete.
Keras is imported inside the functions, so the CLI's parser stays light.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import string
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cnn_core.atomic import temp_path_for
from cnn_core.i18n import TranslatableError
from cnn_core.models import registry
from cnn_core.models.registry import sanitize_name
from cnn_core.training.config import ConfigError, TrainConfig

FORMATS = ("keras-code", "saved_model", "tflite")
TEMPLATE = Path(__file__).resolve().parent / "templates" / "train_keras.py.tmpl"
# The share of the training images held out for validation when a model's settings predate that setting.
DEFAULT_VALIDATION_FRACTION = 0.1
# Class folders without train/ and test/ folders: the share the app's loader keeps as the test split
# (cnn_core.datasets.loading.load_dataset's default).
CLASS_FOLDER_TEST_FRACTION = 0.2


class ExportError(TranslatableError, ValueError):
    """A model that cannot be exported in the asked format, or a place it cannot be written to."""

    section = "errors.export"


# --- keras-code: the run's settings written into a readable training script. ---

# (constant in the script, comment) for each TrainConfig setting, in the order a reader meets them.
SETTING_COMMENTS = {
    "whitening_patch": ("WHITENING_PATCH", "k > 0: a fixed first layer whitening k x k patches (0: none)"),
    "whitening_max_gain": ("WHITENING_MAX_GAIN", "> 0: no whitened direction amplified more than this (0: no cap)"),
    "filters": ("FILTERS", "output channels of each convolution block"),
    "convs_per_block": ("CONVS_PER_BLOCK", "convolutions per block"),
    "kernel_size": ("KERNEL_SIZE", "square kernels"),
    "padding": ("PADDING", "padding of each block's first convolution; the others use 'same'"),
    "pooling": ("POOLING", "'max', 'avg' or 'none' once per block"),
    "pool_size": ("POOL_SIZE", ""),
    "pool_position": ("POOL_POSITION", "'end' of the block, or 'after_first_conv'"),
    "batch_norm": ("BATCH_NORM", "batch normalisation after each convolution"),
    "activation": ("ACTIVATION", ""),
    "head": ("HEAD", "'flatten' or 'global_avg' before the dense layers"),
    "dense_units": ("DENSE_UNITS", "hidden dense layers before the softmax"),
    "dropout_rate": ("DROPOUT_RATE", "dropout before each dense layer (0: none)"),
    "flip": ("FLIP", "random horizontal flips while training"),
    "rotation_degrees": ("ROTATION_DEGREES", "random rotations up to this angle (0: none)"),
    "shift_fraction": ("SHIFT_FRACTION", "random shifts up to this share of the width and height"),
    "mixup_alpha": ("MIXUP_ALPHA", "a > 0: blend training images and labels in pairs, share ~ Beta(a, a)"),
    "blur_sigma": ("BLUR_SIGMA", "> 0: blur each training image, sigma up to this many pixels (0: none)"),
    "noise_std": ("NOISE_STD", "> 0: Gaussian noise on each training image, std up to this /255 (0: none)"),
    "jpeg_quality": ("JPEG_QUALITY", "> 0: each training image through JPEG at quality this..100 (0: none)"),
    "test_time_flip": ("TEST_TIME_FLIP", "test: average each prediction with its mirror image's"),
    "optimizer": ("OPTIMIZER", "'adam', 'adamw' or 'sgd'"),
    "learning_rate": ("LEARNING_RATE", "peak learning rate"),
    "weight_decay": ("WEIGHT_DECAY", "decoupled weight decay (0: none)"),
    "momentum": ("MOMENTUM", "SGD only"),
    "schedule": ("SCHEDULE", "'constant', 'cosine', 'one_cycle' or 'linear'"),
    "warmup_fraction": ("WARMUP_FRACTION", "share of all steps spent warming up"),
    "label_smoothing": ("LABEL_SMOOTHING", ""),
    "batch_size": ("BATCH_SIZE", ""),
    "progressive_resizing": ("PROGRESSIVE_RESIZING", "first epochs on shrunk images: see phase_sides"),
}


def default_epochs(metadata: dict[str, Any], config: TrainConfig) -> int:
    """The epochs the saved model trained (a time budget or a continued run may differ from config.epochs)."""
    trained = metadata.get("epochs_trained")
    if isinstance(trained, int) and not isinstance(trained, bool) and 1 <= trained <= 1000:
        return trained
    return config.epochs


def _line(constant: str, value: Any, comment: str) -> str:
    literal = json.dumps(value) if isinstance(value, (str, list)) else repr(value)  # "double quotes" like the code
    code = f"{constant} = {literal}"
    return f"{code:<32}  # {comment}" if comment else code


def _settings_block(metadata: dict[str, Any], config: TrainConfig) -> str:
    """Section 1 of the script: every setting as a commented constant."""
    from cnn_core.training.model import BATCH_NORM_MOMENTUM, NO_DECAY_NAMES, WHITENING_EPSILON, WHITENING_MAX_IMAGES
    from cnn_core.training.schedules import ONE_CYCLE_DEFAULT_WARMUP, ONE_CYCLE_START_DIVISOR

    values = config.to_dict()
    validation = float(values.get("validation_fraction", DEFAULT_VALIDATION_FRACTION))
    lines = [f"# --- 1. Settings of the saved model {json.dumps(metadata.get('name', ''))}. ---", "",
             _line("SEED", config.seed, "starting weights, augmentation and validation split follow from it"),
             _line("EPOCHS", default_epochs(metadata, config), "default for --epochs: what the saved model trained"),
             _line("VALIDATION_FRACTION", validation, "share of the training images held out to validate on"), ""]
    lines += [_line(constant, values[key], comment) for key, (constant, comment) in SETTING_COMMENTS.items()]
    lines += ["", "# Fixed by CNN Studio (cnn_core/training/model.py and schedules.py):",
              _line("BATCH_NORM_MOMENTUM", BATCH_NORM_MOMENTUM, "statistics settle within ~10 steps"),
              _line("NO_DECAY_NAMES", list(NO_DECAY_NAMES), "weights that weight decay leaves alone"),
              _line("WHITENING_EPSILON", WHITENING_EPSILON, "added to each patch direction's variance"),
              _line("WHITENING_MAX_IMAGES", WHITENING_MAX_IMAGES, "training images the whitening is computed from"),
              _line("ONE_CYCLE_DEFAULT_WARMUP", ONE_CYCLE_DEFAULT_WARMUP, "one_cycle without a warm-up share"),
              _line("ONE_CYCLE_START_DIVISOR", ONE_CYCLE_START_DIVISOR, "one_cycle starts at the peak / this")]
    return "\n".join(lines)


def script_file_name(name: str) -> str:
    """The file name the page and the CLI give a model's script."""
    return f"train_{name.replace('-', '_')}.py"


def keras_code(metadata: dict[str, Any]) -> str:
    """The training script (Python source) for a saved model's metadata; ConfigError if its settings are bad."""
    settings = metadata.get("config")
    if not isinstance(settings, dict):
        raise ConfigError("not_an_object")
    config = TrainConfig.from_dict(settings)
    name = sanitize_name(str(metadata.get("name") or "model"))  # it lands in the code: letters, digits, - and _ only
    template = string.Template(TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        name=name, file_name=script_file_name(name), settings=_settings_block({**metadata, "name": name}, config),
        class_folder_test_fraction=repr(CLASS_FOLDER_TEST_FRACTION),
    )


# --- SavedModel and TFLite: the trained network itself, in inference mode. ---


def _input_spec(model):
    import keras

    return [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32")]


def write_saved_model(model, folder: Path) -> None:
    """A SavedModel at `folder` (a new path) with `serve(images)` calling the model with training=False."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda images: model(images, training=False), input_signature=_input_spec(model))
    archive.write_out(str(folder), verbose=False)


def write_tflite(model, path: Path) -> None:
    """A LiteRT (.tflite) file at `path` through Keras' own exporter (inference mode; path ends in .tflite)."""
    model.export(str(path), format="litert", verbose=False, input_signature=_input_spec(model))


def _is_saved_model(folder: Path) -> bool:
    return (folder / "saved_model.pb").is_file()


def export_saved_model(model, target: Path) -> Path:
    """Write a SavedModel folder at `target` atomically; an earlier SavedModel there is replaced.

    Any other existing file or non-empty folder is refused (ExportError): an export never deletes data.
    """
    target = Path(target)
    if target.exists() and not (target.is_dir() and (_is_saved_model(target) or not any(target.iterdir()))):
        raise ExportError("target_in_use", path=str(target))
    temp, old = temp_path_for(target), temp_path_for(target, suffix=".old")
    try:
        write_saved_model(model, temp)
        if target.exists():
            os.replace(target, old)  # a folder cannot be renamed over a non-empty one: move it aside first
        os.replace(temp, target)
    except OSError as error:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise ExportError("not_written", path=str(target), reason=str(error)) from error
    except Exception as error:  # TensorFlow refused to trace or convert the network
        raise ExportError("not_converted", format="saved_model", reason=str(error)[:500]) from error
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


def _write_file_atomic(target: Path, write, fmt: str, suffix: str = "") -> Path:
    """Call `write(temp_path)`, then rename the temp file over `target`; ExportError if the disk refuses."""
    target = Path(target)
    if target.is_dir():
        raise ExportError("target_in_use", path=str(target))
    temp = temp_path_for(target, suffix=suffix)
    try:
        write(temp)
        os.replace(temp, target)
    except OSError as error:
        raise ExportError("not_written", path=str(target), reason=str(error)) from error
    except ExportError:
        raise
    except Exception as error:  # TensorFlow refused to trace or convert the network
        raise ExportError("not_converted", format=fmt, reason=str(error)[:500]) from error
    finally:
        temp.unlink(missing_ok=True)
    return target


# --- One entry point for the CLI, and bytes for the page's download buttons. ---


def default_target(name: str, fmt: str) -> str:
    """The file or folder name an export gets inside a folder."""
    return {"keras-code": script_file_name(name), "saved_model": f"{name}_saved_model", "tflite": f"{name}.tflite"}[fmt]


def export_model(name: str, fmt: str, out: str | Path) -> Path:
    """Export the saved model `name` as `fmt` to `out` (a folder gets the default name inside); returns the path."""
    if fmt not in FORMATS:
        raise ExportError("unknown_format", format=fmt, choices=", ".join(FORMATS))
    metadata = registry.load_metadata(name)
    out = Path(out).expanduser()
    if fmt != "saved_model" and out.is_dir():
        out = out / default_target(metadata["name"], fmt)
    if not out.parent.is_dir():
        raise ExportError("no_such_folder", path=str(out.parent))
    if fmt == "keras-code":
        source = keras_code(metadata)
        return _write_file_atomic(out, lambda temp: temp.write_text(source, encoding="utf-8"), fmt)
    model = registry.load_model(name)
    if fmt == "saved_model":
        return export_saved_model(model, out)
    return _write_file_atomic(out, lambda temp: write_tflite(model, temp), fmt, suffix=".tflite")


def saved_model_zip(name: str) -> bytes:
    """The SavedModel of a saved model as a .zip (one `<name>_saved_model/` folder inside)."""
    model = registry.load_model(name)
    folder_name = default_target(registry.sanitize_name(name), "saved_model")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / folder_name
        write_saved_model(model, folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                archive.write(path, path.relative_to(temp).as_posix())
    return buffer.getvalue()


def tflite_bytes(name: str) -> bytes:
    """The .tflite file of a saved model."""
    model = registry.load_model(name)
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "model.tflite"
        write_tflite(model, path)
        return path.read_bytes()


def keras_code_bytes(name: str) -> bytes:
    """The training script of a saved model, UTF-8."""
    return keras_code(registry.load_metadata(name)).encode("utf-8")

"""From a photo to class probabilities: the exact 32x32 input the network sees, then top-k classes.

CIFAR-10 models see 32x32 pixels, so every upload is first made square (centre crop, or pad with
the photo's average colour), then shrunk with an antialiasing filter. A plain nearest-neighbour
shrink of a 12-megapixel photo would keep one pixel in 140,000 and alias badly; Lanczos averages
every pixel under its window. The model rescales pixels itself (see cnn_core/training/model.py), so the
prepared array stays uint8 0..255.

`load_image` (cnn_core/images.py) has already applied the EXIF orientation and dropped alpha.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import numpy as np
from PIL import Image, ImageStat

from cnn_core import i18n

INPUT_SIZE = 32  # CIFAR-10's side; models built by cnn_core.training.model take (32, 32, 3)
FIT_CHOICES = ("crop", "pad")
# Below this top-class probability the page warns that the model is unsure.
LOW_CONFIDENCE_THRESHOLD = 0.5
# Pillow first shrinks huge photos by a fast box reduction to within this factor of the target,
# then applies Lanczos: visually identical, and 10-50x faster on camera-sized images.
REDUCING_GAP = 3.0


class PreprocessError(i18n.TranslatableError, ValueError):
    """An image or option that cannot be turned into the network's input."""

    section = "errors.inference"


def square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square (left, top, right, bottom) of a width x height image; odd leftovers go right/bottom."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def pad_to_square(image: Image.Image, color: tuple[int, int, int] | None = None) -> Image.Image:
    """The image centred on a square canvas filled with `color` (default: the image's average colour)."""
    width, height = image.size
    side = max(width, height)
    if color is None:
        # The average colour makes the padded border as unremarkable as possible to the network.
        color = tuple(int(round(value)) for value in ImageStat.Stat(image.convert("RGB")).mean)
    canvas = Image.new("RGB", (side, side), color)
    canvas.paste(image.convert("RGB"), ((side - width) // 2, (side - height) // 2))
    return canvas


def prepare_image(image: Image.Image, fit: Literal["crop", "pad"] = "crop", size: int = INPUT_SIZE) -> np.ndarray:
    """The uint8 (size, size, 3) array the network sees: centre crop or pad to square, then Lanczos resize."""
    if fit not in FIT_CHOICES:
        raise PreprocessError("bad_fit", name="fit", choices=", ".join(FIT_CHOICES), value=fit)
    if size < 1:
        raise PreprocessError("bad_size", size=size)
    image = image.convert("RGB")
    if image.width < 1 or image.height < 1:
        raise PreprocessError("no_pixels")
    # Crop first (rather than resize(box=...)) so pixels outside the square never leak in through
    # the filter's window: the network sees exactly the square the page shows.
    square = image.crop(square_box(image.width, image.height)) if fit == "crop" else pad_to_square(image)
    resized = square.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    return np.asarray(resized, dtype=np.uint8).copy()


def describe_preprocessing(fit: str, original_size: tuple[int, int], size: int = INPUT_SIZE, *,
                           language: str = "en") -> str:
    """One sentence (Markdown, in `language`) saying exactly what `prepare_image` did to an image of `original_size`."""
    width, height = original_size
    if fit not in FIT_CHOICES:
        raise PreprocessError("bad_fit", name="fit", choices=", ".join(FIT_CHOICES), value=fit)
    side = min(width, height) if fit == "crop" else max(width, height)
    step = i18n.text(language, f"explain.preprocessing.{fit}", side=side)
    return i18n.text(language, "explain.preprocessing.sentence", width=width, height=height, step=step,
                     size=size, gap=f"{REDUCING_GAP:g}")


# --- Prediction. Keras is imported here, not at module top, so preprocessing stays TensorFlow-free. ---


def traced(model, what: str, build: Callable[[], Callable]) -> Callable:
    """`build()`'s function for this model, made once: a server classifies every visitor's photos with the same
    model object, and a traced call costs ~5 ms where an eager one costs ~30 ms (and Keras sub-models stay built).
    Kept in the model's own __dict__ (past Keras' attribute tracking), so they go when the model goes: a weak-keyed
    table whose values hold the model kept every model alive."""
    functions = model.__dict__.setdefault("_cnn_studio_traced", {})
    if what not in functions:
        functions[what] = build()
    return functions[what]


def traced_forward(model) -> Callable:
    """The model's inference call as one traced graph (traced on first use, then reused for any batch size).

    For whole splits: a traced call was ~1.4x faster per image than eager calls here, and the trace
    (a fraction of a second) pays for itself from the second batch on. One photo stays eager (no trace).
    """
    import tensorflow as tf  # imported here: this module is light until a model runs

    signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)]
    return tf.function(lambda images: model(images, training=False), input_signature=signature)


def predict_probabilities(model, images: np.ndarray, test_time_flip: bool, batch_size: int = 256,
                          forward: Callable | None = None) -> np.ndarray:
    """Class probabilities (n, classes) by calling the model directly in batches (no `model.predict`).

    With `test_time_flip`, each image's probabilities are averaged with those of its mirror image.
    `forward` (from `traced_forward`) replaces the eager call, for whole splits.
    """
    import keras

    forward = forward or (lambda batch: model(batch, training=False))
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        if test_time_flip:
            both = np.concatenate([batch, batch[:, :, ::-1, :]])
            probabilities = keras.ops.convert_to_numpy(forward(both))
            outputs.append((probabilities[: len(batch)] + probabilities[len(batch) :]) / 2)
        else:
            outputs.append(keras.ops.convert_to_numpy(forward(batch)))
    if not outputs:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32)


def probabilities(model, images: Sequence[np.ndarray], test_time_flip: bool = False) -> np.ndarray:
    """Softmax outputs (n, classes) for prepared uint8 images, calling the model directly (no model.predict)."""
    batch = _stack(images, model)
    forward = traced(model, "forward", lambda: traced_forward(model))
    return predict_probabilities(model, batch, test_time_flip=test_time_flip, forward=forward)


def top_classes(probability_row: np.ndarray, class_names: Sequence[str], top_k: int = 5) -> list[tuple[str, float]]:
    """The `top_k` (label, probability) pairs of one probability vector, most likely first."""
    row = np.asarray(probability_row, dtype=np.float64)
    if len(row) != len(class_names):
        raise PreprocessError("class_mismatch", outputs=len(row), names=len(class_names))
    # A stable sort keeps ties in class order, so results are reproducible.
    order = np.argsort(-row, kind="stable")[: max(int(top_k), 0)]
    return [(str(class_names[index]), float(row[index])) for index in order]


def classify(
    model,
    images: Sequence[np.ndarray],
    class_names: Sequence[str],
    top_k: int = 5,
    test_time_flip: bool = False,
) -> list[list[tuple[str, float]]]:
    """Top-k (label, probability) lists, one per prepared uint8 (32, 32, 3) image."""
    if len(images) == 0:
        return []
    rows = probabilities(model, images, test_time_flip=test_time_flip)
    return [top_classes(row, class_names, top_k) for row in rows]


def is_low_confidence(top: Sequence[tuple[str, float]], threshold: float = LOW_CONFIDENCE_THRESHOLD) -> bool:
    """Whether the most likely class has probability below `threshold`."""
    return not top or top[0][1] < threshold


def _stack(images: Sequence[np.ndarray], model) -> np.ndarray:
    """Check every image has the model's input shape and stack them into one uint8 batch."""
    expected = tuple(int(side) for side in model.input_shape[1:])
    arrays = [np.asarray(image) for image in images]
    for index, array in enumerate(arrays):
        if array.shape != expected:
            raise PreprocessError("wrong_shape", number=index + 1, shape=str(array.shape), expected=str(expected))
    return np.stack(arrays).astype(np.uint8, copy=False)


def default_model(models: Sequence[dict]) -> dict | None:
    """The model to offer first: the one whose metadata says "shipped": true, else the newest (list order)."""
    for metadata in models:
        if metadata.get("shipped") is True:
            return metadata
    # list_models() returns newest first, but sort by "created" too in case a caller did not.
    return max(models, key=lambda metadata: str(metadata.get("created") or ""), default=None)

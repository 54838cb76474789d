"""Question a trained model with its own photo: which part does it need (occlusion), and what changes sway it.

Occlusion sensitivity (Zeiler & Fergus, 2014) covers one square of the photo at a time with a grey
patch and records how far the chosen class's probability falls. Unlike Grad-CAM it needs nothing
inside the model (any classifier works) but costs one forward pass per patch position; all positions
go through the model together in a few large batches, so a 32x32 photo with an 8x8 patch at stride 2
(13 x 13 = 169 copies) is one call.

What-if perturbations (blur, noise, brightness, contrast, rotation, shift, JPEG) change the whole photo by a
chosen amount; `curve` sends every level of one slider through the model in one batch. Levels are in
units a learner can read: pixels (0..255) for noise and brightness, a factor for contrast, degrees for
rotation, pixels for shift and blur radius, Pillow's JPEG quality (1..100) for JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter

from cnn_core.i18n import TranslatableError

GREY = 128  # the patch's value: mid-grey, the least informative single colour for 0..255 inputs
BATCH = 256  # images per model call: large enough to amortise the call, small enough for 0.7 GB servers
NOISE_SEED = 0  # fixed noise, so moving a slider back returns exactly the same picture
PERTURBATIONS = ("blur", "noise", "brightness", "contrast", "rotation", "shift", "jpeg")
# Each slider's range (start, stop, number of levels in the curve) and its neutral value.
RANGES = {
    "blur": (0.0, 3.0, 13, 0.0),  # Gaussian radius in pixels
    "noise": (0.0, 80.0, 17, 0.0),  # standard deviation in pixel units (/255)
    "brightness": (-120.0, 120.0, 25, 0.0),  # added to every pixel
    "contrast": (0.0, 2.0, 21, 1.0),  # factor around the photo's mean
    "rotation": (-45.0, 45.0, 19, 0.0),  # degrees, counter-clockwise
    "shift": (-8.0, 8.0, 17, 0.0),  # pixels to the right
    "jpeg": (10.0, 100.0, 10, 100.0),  # Pillow's JPEG quality; 100 is the slider's "off": the photo as it was
}


class ProbeError(TranslatableError, ValueError):
    """An occlusion or perturbation setting that cannot be applied."""

    section = "errors.probes"


def forward(model, images: np.ndarray) -> np.ndarray:
    """Softmax outputs (n, classes) of float images, by direct model calls in batches of BATCH (no model.predict)."""
    import keras

    images = np.asarray(images, dtype=np.float32)
    outputs = [keras.ops.convert_to_numpy(model(images[start : start + BATCH], training=False))
               for start in range(0, len(images), BATCH)]
    if not outputs:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32)


# --- Occlusion. ---


@dataclass(frozen=True)
class Occlusion:
    """Where a grey patch hurts the chosen class: per patch position and spread back over pixels."""

    class_index: int
    base_probability: float  # the class's probability with nothing covered
    rows: tuple[int, ...]  # top edge of each patch row
    cols: tuple[int, ...]  # left edge of each patch column
    probabilities: np.ndarray  # (len(rows), len(cols)): the class's probability with that patch in place
    pixel_drop: np.ndarray  # (h, w): mean drop over the patches that cover each pixel (0 where none does)

    @property
    def drops(self) -> np.ndarray:
        """base probability - probability at each patch position (positive: the patch hurt the class)."""
        return self.base_probability - self.probabilities


def patch_positions(side: int, patch: int, stride: int) -> tuple[int, ...]:
    """Top-left offsets along one side: every `stride` pixels, and the last one flush with the edge."""
    if not 1 <= patch <= side:
        raise ProbeError("bad_patch", patch=patch, side=side)
    if stride < 1:
        raise ProbeError("bad_stride", stride=stride)
    positions = list(range(0, side - patch + 1, stride))
    if positions[-1] != side - patch:  # so the far edge is covered too
        positions.append(side - patch)
    return tuple(positions)


def occluded_copies(image: np.ndarray, patch: int, stride: int, fill: float = GREY) -> tuple[np.ndarray, tuple, tuple]:
    """(copies (rows*cols, h, w, c) float32 with one patch each, row offsets, column offsets)."""
    array = np.asarray(image, dtype=np.float32)
    height, width = array.shape[:2]
    rows, cols = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
    copies = np.repeat(array[None], len(rows) * len(cols), axis=0)
    for index, (top, left) in enumerate((top, left) for top in rows for left in cols):
        copies[index, top : top + patch, left : left + patch] = fill
    return copies, rows, cols


def occlusion(model, image: np.ndarray, class_index: int, patch: int = 8, stride: int = 2,
              fill: float = GREY) -> Occlusion:
    """Slide a `patch` x `patch` square of `fill` over `image` every `stride` pixels; one batched pass."""
    copies, rows, cols = occluded_copies(image, patch, stride, fill)
    outputs = forward(model, np.concatenate([np.asarray(image, dtype=np.float32)[None], copies]))
    if not 0 <= class_index < outputs.shape[1]:
        raise ProbeError("bad_class", index=class_index, highest=outputs.shape[1] - 1)
    base = float(outputs[0, class_index])
    probabilities = outputs[1:, class_index].reshape(len(rows), len(cols))
    height, width = np.asarray(image).shape[:2]
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for (r, top), (c, left) in ((rc, cc) for rc in enumerate(rows) for cc in enumerate(cols)):
        total[top : top + patch, left : left + patch] += base - probabilities[r, c]
        count[top : top + patch, left : left + patch] += 1
    pixel_drop = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return Occlusion(int(class_index), base, rows, cols, probabilities, pixel_drop.astype(np.float32))


# --- What-if perturbations. ---


def levels(kind: str, count: int | None = None) -> np.ndarray:
    """The levels a curve of `kind` samples: its whole slider range."""
    start, stop, default_count, _ = _range(kind)
    return np.linspace(start, stop, count or default_count)


def _range(kind: str) -> tuple[float, float, int, float]:
    if kind not in RANGES:
        raise ProbeError("bad_perturbation", kind=kind, choices=", ".join(PERTURBATIONS))
    return RANGES[kind]


def _mean_colour(array: np.ndarray) -> tuple[int, ...]:
    return tuple(int(round(value)) for value in array.reshape(-1, array.shape[-1]).mean(axis=0))


def jpeg(image: np.ndarray, quality: float) -> np.ndarray:
    """`image` (h, w, 3) uint8 through Pillow's JPEG encoder at `quality` (1..99) and back; 100: unchanged."""
    if not 1 <= quality <= 100:
        raise ProbeError("bad_jpeg_quality", quality=f"{quality:g}")
    if quality >= 100:
        return np.array(image, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, "JPEG", quality=int(round(quality)))
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def perturb(image: np.ndarray, kind: str, level: float, noise_seed: int = NOISE_SEED) -> np.ndarray:
    """`image` (h, w, 3) uint8 changed by `kind` at `level`; uint8 again (what a camera would have given).

    Noise is drawn from `noise_seed`: the same seed gives the same noise (a slider moved back gives the same photo).
    """
    _range(kind)
    array = np.asarray(image, dtype=np.uint8)
    level = float(level)
    if kind == "noise":
        noise = np.random.default_rng(noise_seed).normal(0.0, 1.0, array.shape) * level
        return np.clip(array + noise, 0, 255).round().astype(np.uint8)
    if kind == "jpeg":
        return jpeg(array, level)
    if kind == "brightness":
        return np.clip(array.astype(np.float32) + level, 0, 255).round().astype(np.uint8)
    if kind == "contrast":
        mean = array.reshape(-1, array.shape[-1]).mean(axis=0)
        return np.clip((array - mean) * level + mean, 0, 255).round().astype(np.uint8)
    picture = Image.fromarray(array)
    if kind == "blur":
        return np.asarray(picture.filter(ImageFilter.GaussianBlur(level)), dtype=np.uint8)
    fill = _mean_colour(array)  # uncovered corners get the photo's average colour, as with padding
    if kind == "rotation":
        return np.asarray(picture.rotate(level, resample=Image.Resampling.BILINEAR, fillcolor=fill), dtype=np.uint8)
    # shift: output pixel (x, y) takes input pixel (x - level, y)
    moved = picture.transform(picture.size, Image.Transform.AFFINE, (1, 0, -level, 0, 1, 0),
                              resample=Image.Resampling.BILINEAR, fillcolor=fill)
    return np.asarray(moved, dtype=np.uint8)


def perturb_many(images: np.ndarray, kind: str, level: float) -> np.ndarray:
    """Every image of a (n, h, w, 3) batch perturbed alike."""
    return np.stack([perturb(image, kind, level) for image in images]) if len(images) else np.asarray(images)


def curve(model, image: np.ndarray, kind: str, sampled: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(levels, probabilities (levels, classes)): the photo at every level of one slider, in one batched pass."""
    sampled = levels(kind) if sampled is None else np.asarray(sampled, dtype=np.float64)
    batch = np.stack([perturb(image, kind, level) for level in sampled])
    return sampled, forward(model, batch)


def top_classes_over(probabilities: np.ndarray, count: int = 3) -> list[int]:
    """The classes worth drawing on a curve: highest peak probability anywhere along it, best first."""
    peaks = np.asarray(probabilities).max(axis=0)
    return [int(index) for index in np.argsort(-peaks, kind="stable")[:count]]

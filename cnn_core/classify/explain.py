"""Why did the network say that? Grad-CAM, every layer's activations, learned filters, logits.

Grad-CAM (Selvaraju et al., 2017) asks how much each channel of the last convolutional feature map
pushes the class score up: the gradient of the class's logit with respect to that map, averaged over
positions, weights the channel. The weighted sum of channels, with negative evidence dropped (ReLU),
is a coarse map of where the class was seen. Models come from cnn_core.training.model, whose layer names
(`block{b}_conv{c}`, `block{b}_act{c}`, `block{b}_pool`, `predictions`) this module relies on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from cnn_core.classify.inference import square_box, traced
from cnn_core.i18n import TranslatableError

_CONV = re.compile(r"^block(\d+)_conv(\d+)$")
_ACTIVATION = re.compile(r"^block(\d+)_act(\d+)$")
_POOL = re.compile(r"^block(\d+)_pool$")
# Heat colours, cold to hot: Plotly's "Viridis" (perceptually even, readable with colour-vision deficiencies).
_HEAT_COLOURS = np.array(
    [[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121],
     [110, 206, 88], [181, 222, 43], [253, 231, 37]],
    dtype=np.float32,
)


class ExplainError(TranslatableError, ValueError):
    """A model or request that cannot be explained (e.g. no convolution layer)."""

    section = "errors.explain"


# --- Which layers to look at. ---


def feature_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers whose output is a convolution's feature map (after its activation) or a pooling.

    Without batch norm the activation is inside `block{b}_conv{c}`; with it, `block{b}_act{c}` follows
    the batch norm, and that is what the next layer sees.
    """
    names = [layer.name for layer in model.layers]
    activated = {match.groups() for name in names if (match := _ACTIVATION.match(name))}
    selected = []
    for name in names:
        conv = _CONV.match(name)
        if conv and conv.groups() not in activated:
            selected.append(name)
        elif _ACTIVATION.match(name) or _POOL.match(name):
            selected.append(name)
    return selected


def is_pooling_layer(name: str) -> bool:
    """Whether a layer name from `feature_layer_names` is a pooling layer (else a convolution's activation)."""
    return bool(_POOL.match(name))


def last_conv_layer_name(model: keras.Model) -> str:
    """The last convolutional feature map (after activation): the layer Grad-CAM differentiates."""
    candidates = [name for name in feature_layer_names(model) if not is_pooling_layer(name)]
    if not candidates:
        raise ExplainError("no_conv_layer_to_explain", pattern="block{b}_conv{c}")
    return candidates[-1]


def _batch(image: np.ndarray) -> np.ndarray:
    """One uint8 (32, 32, 3) image as a float32 batch of one (the model rescales 0..255 itself)."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ExplainError("wrong_shape", shape=str(array.shape))
    return array[None].astype(np.float32)


def _outputs_of(model: keras.Model, outputs: list, what: str) -> Callable:
    """A traced call of the sub-model from the input to `outputs`, for a batch of images of any size."""
    def build() -> Callable:
        probe = keras.Model(model.input, outputs)
        return tf.function(lambda images: tuple(tf.nest.flatten(probe(images, training=False))),  # always a tuple
                           input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)])
    return traced(model, what, build)


# --- Logits and softmax. ---


@dataclass(frozen=True)
class LastLayer:
    """The `predictions` Dense layer at work on one image: z = W x + b, before its softmax."""

    source: str  # the layer whose output x is (flatten, global_pool or dense{i})
    features: np.ndarray  # x, (inputs,)
    kernel: np.ndarray  # W as Keras stores it, (inputs, classes): z = x @ W + b
    bias: np.ndarray  # b, (classes,)

    @property
    def weighted_sums(self) -> np.ndarray:
        """sum_i W_{k,i} x_i for every class k: the score before the bias is added."""
        return self.features.astype(np.float64) @ self.kernel.astype(np.float64)

    @property
    def logits(self) -> np.ndarray:
        """z = x W + b in float64 (the scores softmax turns into probabilities)."""
        return self.weighted_sums + self.bias.astype(np.float64)


def last_layer(model: keras.Model, image: np.ndarray) -> LastLayer:
    """What enters the final Dense layer for `image`, with that layer's weights and bias."""
    predictions = model.get_layer("predictions")
    features = _outputs_of(model, [predictions.input], "last_layer_input")
    values = keras.ops.convert_to_numpy(features(_batch(image))[0])[0]
    kernel, bias = (keras.ops.convert_to_numpy(weight) for weight in predictions.weights[:2])
    # Dropout is the identity when predicting, so name the layer that actually computed x.
    names = [layer.name for layer in model.layers]
    before = [name for name in names[: names.index("predictions")] if not name.startswith("dropout")]
    return LastLayer(before[-1] if before else "input", values, kernel, bias)


def last_layer_passes(model: keras.Model, image: np.ndarray, test_time_flip: bool) -> list[LastLayer]:
    """The last layer at work on each pass the model's answer averages: the photo, and its mirror image when the
    model was trained with test-time flip (cnn_core.classify.inference.predict_probabilities averages the two)."""
    passes = [last_layer(model, image)]
    if test_time_flip:
        passes.append(last_layer(model, np.ascontiguousarray(np.asarray(image)[:, ::-1])))
    return passes


def answer_probabilities(passes: list[LastLayer]) -> np.ndarray:
    """The probabilities the model reports: the mean of its passes' softmax outputs."""
    return np.mean([softmax(numbers.logits) for numbers in passes], axis=0)


def logits(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """The pre-softmax scores z (classes,) of one image: the `predictions` Dense layer before its softmax."""
    return last_layer(model, image).logits


def softmax(values: np.ndarray) -> np.ndarray:
    """softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z) (the max shift avoids overflow)."""
    shifted = np.asarray(values, dtype=np.float64) - np.max(values)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum()


# --- Grad-CAM. ---


@dataclass(frozen=True)
class GradCam:
    """A Grad-CAM map and the numbers behind it (the page writes the formula out with them)."""

    heatmap: np.ndarray  # (h, w) at the feature map's resolution, in [0, 1]
    class_index: int
    layer_name: str
    channel_weights: np.ndarray  # alpha_k: the class score's gradient averaged over positions, (channels,)
    feature_shape: tuple[int, int, int]  # (h, w, channels) of the feature map A


def grad_cam_details(model: keras.Model, image: np.ndarray, class_index: int | None = None,
                     layer_name: str | None = None) -> GradCam:
    """Grad-CAM of `class_index` (default: the predicted class) with its channel weights."""
    layer_name = layer_name or last_conv_layer_name(model)
    classes = int(model.output_shape[-1])
    if class_index is None:
        class_index = int(np.argmax(last_layer(model, image).logits))
    if not 0 <= class_index < classes:
        raise ExplainError("bad_class_index", index=class_index, highest=classes - 1)
    maps, gradients = _grad_cam_step(model, layer_name)(_batch(image), tf.constant(class_index, tf.int32))
    if gradients.shape.rank != 4:
        raise ExplainError("no_gradient", layer=layer_name)
    maps, gradients = maps[0].numpy(), gradients[0].numpy()
    channel_weights = gradients.mean(axis=(0, 1))  # one importance per channel
    cam = np.maximum(maps @ channel_weights, 0.0)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else np.zeros_like(cam)
    return GradCam(cam.astype(np.float32), int(class_index), layer_name, channel_weights.astype(np.float64),
                   tuple(int(side) for side in maps.shape))


def _grad_cam_step(model: keras.Model, layer_name: str) -> Callable:
    """(feature map A, d z_c / d A) of a batch for class c: traced once per model and layer."""
    predictions = model.get_layer("predictions")
    kernel, bias = (tf.constant(keras.ops.convert_to_numpy(weight)) for weight in predictions.weights[:2])

    def build() -> Callable:
        # A plain sub-model inside the traced step: the tape must see A feed the features (a nested traced call
        # would hand it both as outputs of one opaque op, with no gradient between them).
        probe = keras.Model(model.input, [model.get_layer(layer_name).output, predictions.input])

        @tf.function(reduce_retracing=True)
        def step(images, class_index):
            # Gradients of the logit, not the softmax output: probabilities near 1 saturate and give ~0 gradients.
            with tf.GradientTape() as tape:
                feature_map, features = probe(images, training=False)
                # float32 even for a model trained in mixed precision (16-bit features, float32 weights)
                score = (tf.matmul(tf.cast(features, tf.float32), kernel) + bias)[:, class_index]
            gradients = tape.gradient(score, feature_map)
            if gradients is None:  # only if the feature map does not feed the prediction at all
                return tf.cast(feature_map, tf.float32), tf.fill([1], float("nan"))
            return tf.cast(feature_map, tf.float32), tf.cast(gradients, tf.float32)
        return step

    return traced(model, f"grad_cam_step_{layer_name}", build)


def grad_cam_map(model: keras.Model, image: np.ndarray, class_index: int | None = None,
                 layer_name: str | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM at the feature map's own resolution (h, w), in [0, 1], and the class it explains."""
    details = grad_cam_details(model, image, class_index, layer_name)
    return details.heatmap, details.class_index


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to (width, height) = `size`, clipped to [0, 1]."""
    resized = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def grad_cam(model: keras.Model, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM of `class_index` (default: the predicted class) upsampled to the input: (32, 32) in [0, 1]."""
    cam, _ = grad_cam_map(model, image, class_index)
    height, width = np.asarray(image).shape[:2]
    return upsample(cam, (width, height))


def heatmap_for_original(heatmap: np.ndarray, original_size: tuple[int, int], fit: str) -> np.ndarray:
    """Place an input-sized heatmap over the original photo (height, width), undoing the crop or pad.

    With "crop" the network never saw the cut-off edges, so they get no heat; with "pad" the padding
    is cut away again.
    """
    width, height = original_size
    if fit == "crop":
        left, top, right, bottom = square_box(width, height)
        placed = np.zeros((height, width), dtype=np.float32)
        placed[top:bottom, left:right] = upsample(heatmap, (right - left, bottom - top))
        return placed
    side = max(width, height)
    left, top = (side - width) // 2, (side - height) // 2
    return upsample(heatmap, (side, side))[top : top + height, left : left + width]


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] map as uint8 RGB heat colours (dark purple = 0 … yellow = 1)."""
    values = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    anchors = np.linspace(0.0, 1.0, len(_HEAT_COLOURS))
    channels = [np.interp(values, anchors, _HEAT_COLOURS[:, channel]) for channel in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def legend_strip(width: int = 224, height: int = 12) -> np.ndarray:
    """The heat colours from 0 (left) to 1 (right) as a uint8 strip: the legend under a heat map."""
    return colorize(np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1)))


def overlay(image: Image.Image, heatmap: np.ndarray, strength: float = 0.6) -> Image.Image:
    """The photo with heat colours blended in where the map is high (cold regions keep the photo)."""
    photo = np.asarray(image.convert("RGB"), dtype=np.float32)
    if heatmap.shape != photo.shape[:2]:
        heatmap = upsample(heatmap, (photo.shape[1], photo.shape[0]))
    weight = (strength * np.clip(heatmap, 0.0, 1.0))[..., None]
    blended = photo * (1.0 - weight) + colorize(heatmap).astype(np.float32) * weight
    return Image.fromarray(blended.round().astype(np.uint8))


# --- Look inside: activations and filters. ---


def layer_activations(model: keras.Model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv (after activation) and pooling output for one image: name -> (height, width, channels)."""
    names = feature_layer_names(model)
    if not names:
        return {}
    probe = _outputs_of(model, [model.get_layer(name).output for name in names], "activations")
    outputs = probe(_batch(image))
    return {name: keras.ops.convert_to_numpy(output)[0] for name, output in zip(names, outputs)}


def first_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The first convolution (`block{b}_conv{c}`): a whitening layer where the model has one."""
    names = [layer.name for layer in model.layers if _CONV.match(layer.name)]
    if not names:
        raise ExplainError("no_conv_layer", pattern="block{b}_conv{c}")
    return model.get_layer(names[0])


def first_layer_filters(model: keras.Model) -> np.ndarray:
    """The first convolution's kernel, (k, k, input channels, filters), as it is now (float32)."""
    return keras.ops.convert_to_numpy(first_conv_layer(model).kernel).astype(np.float32)


def first_layer_is_fixed(model: keras.Model) -> bool:
    """Whether the first convolution is never trained (a whitening layer, computed from the training images)."""
    return not first_conv_layer(model).trainable


def filter_as_kernel(filters: np.ndarray, index: int, channel: int | None = None) -> list[list[float]]:
    """One learned filter as a 2-D kernel: one input channel (0=R, 1=G, 2=B) or, by default, their mean.

    The convolution page works on one grey channel; averaging over R, G, B is what a filter does to a
    grey image (all three channels equal), up to a factor of 3.
    """
    if not 0 <= index < filters.shape[-1]:
        raise ExplainError("no_such_filter", index=index, count=filters.shape[-1])
    kernel = filters[..., index]
    if channel is None:
        plane = kernel.mean(axis=-1)
    elif 0 <= channel < kernel.shape[-1]:
        plane = kernel[..., channel]
    else:
        raise ExplainError("no_such_channel", channel=channel, count=kernel.shape[-1])
    return [[float(value) for value in row] for row in plane]


# --- Pictures of what is inside (plain uint8 arrays; the page only displays them). ---


def tile(images: np.ndarray, columns: int, gap: int = 1, gap_value: int = 255) -> np.ndarray:
    """Arrange (n, h, w[, 3]) uint8 images in a grid `columns` wide with `gap` pixels of `gap_value` between."""
    count, height, width = images.shape[:3]
    rows = max(1, -(-count // columns))
    shape = (rows * (height + gap) - gap, columns * (width + gap) - gap) + images.shape[3:]
    grid = np.full(shape, gap_value, dtype=np.uint8)
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = images[index]
    return grid


def activation_grid(feature_map: np.ndarray, columns: int = 8, scale: int = 2) -> np.ndarray:
    """All channels of one (h, w, c) feature map as a grey grid, each channel stretched to 0..255.

    Each channel gets its own range so a weak but structured map is still visible; an all-zero
    channel (a ReLU that never fired) stays black.
    """
    maps = np.moveaxis(np.asarray(feature_map, dtype=np.float32), -1, 0)  # (c, h, w)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)
    pixels = (scaled * 255).round().astype(np.uint8)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)  # blocky enlargement: each value stays one square
    return tile(pixels, min(columns, len(pixels)))


def filter_grid(filters: np.ndarray, columns: int = 8, scale: int = 8) -> np.ndarray:
    """First-layer (k, k, 3, n) filters as RGB tiles; 0 maps to grey 128, the largest |weight| to 0 or 255."""
    kernels = np.moveaxis(np.asarray(filters, dtype=np.float32), -1, 0)  # (n, k, k, 3)
    peak = np.abs(kernels).max(axis=(1, 2, 3), keepdims=True)
    normalised = kernels / np.where(peak > 0, peak, 1.0)
    pixels = (128 + 127 * normalised).round().astype(np.uint8)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    return tile(pixels, min(columns, len(pixels)))

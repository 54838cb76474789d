"""cnn_core.convolution.ops against TensorFlow's own convolution and pooling ops (the reference Keras layers call)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnn_core.convolution import ops

from helpers.paths import PROJECT_ROOT

tf = pytest.importorskip("tensorflow")

STRIDES = (1, 2, 3)
DILATIONS = (1, 2)
KERNELS = ((3, 3), (2, 2), (4, 3), (1, 5))  # odd, even and mixed sizes
PADDINGS = ("valid", "same", 1, 2)


def _tf_padding(padding):
    """TensorFlow's spelling of our padding argument."""
    if isinstance(padding, int):
        return [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    return padding.upper()


def _tf_conv(x: np.ndarray, kernel: np.ndarray, stride, padding, dilation) -> np.ndarray:
    """tf.nn.conv2d of an HxWxC image with one 3-D filter (kh, kw, C) -> HxW."""
    result = tf.nn.conv2d(x[None].astype(np.float32), kernel[:, :, :, None].astype(np.float32),
                          strides=stride, padding=_tf_padding(padding), dilations=dilation)
    return result.numpy()[0, :, :, 0]


def _tf_per_channel(x: np.ndarray, kernel: np.ndarray, stride, padding, dilation) -> np.ndarray:
    """A 2-D kernel on each channel separately: the channels become a batch of 1-channel images."""
    batch = np.moveaxis(x, 2, 0)[..., None].astype(np.float32)
    result = tf.nn.conv2d(batch, kernel[:, :, None, None].astype(np.float32),
                          strides=stride, padding=_tf_padding(padding), dilations=dilation)
    return np.moveaxis(result.numpy()[..., 0], 0, 2)


def _cases():
    for stride, dilation, kernel_shape, padding in itertools.product(STRIDES, DILATIONS, KERNELS, PADDINGS):
        yield pytest.param(stride, dilation, kernel_shape, padding,
                           id=f"s{stride}-d{dilation}-k{kernel_shape[0]}x{kernel_shape[1]}-{padding}")


@pytest.mark.parametrize("stride, dilation, kernel_shape, padding", list(_cases()))
def test_conv2d_matches_tensorflow(stride, dilation, kernel_shape, padding):
    rng = np.random.default_rng(stride * 100 + dilation * 10 + kernel_shape[0])
    # Odd and even sizes make SAME's uneven split (the extra zero at the bottom/right) matter.
    image = rng.normal(size=(11, 10, 3)).astype(np.float32)
    kernel_3d = rng.normal(size=kernel_shape + (3,)).astype(np.float32)
    kernel_2d = kernel_3d[:, :, 0]

    summed = ops.conv2d(image, kernel_3d, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(summed, _tf_conv(image, kernel_3d, stride, padding, dilation), rtol=1e-5, atol=1e-5)

    per_channel = ops.conv2d(image, kernel_2d, stride=stride, padding=padding, dilation=dilation)
    expected = _tf_per_channel(image, kernel_2d, stride, padding, dilation)
    np.testing.assert_allclose(per_channel, expected, rtol=1e-5, atol=1e-5)

    gray = ops.conv2d(image[:, :, 0], kernel_2d, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(gray, expected[:, :, 0], rtol=1e-5, atol=1e-5)

    assert summed.dtype == per_channel.dtype == gray.dtype == np.float32
    # output_size predicts the real shape, for both axes.
    assert summed.shape == (ops.output_size(11, kernel_shape[0], stride, padding, dilation),
                            ops.output_size(10, kernel_shape[1], stride, padding, dilation))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_two_d_kernel_matches_depthwise_conv2d(padding):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(13, 12, 3)).astype(np.uint8)  # uint8 input, as from an image
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    expected = tf.nn.depthwise_conv2d(image[None].astype(np.float32), np.repeat(kernel[:, :, None, None], 3, axis=2),
                                      strides=[1, 1, 1, 1], padding=padding.upper()).numpy()[0]
    np.testing.assert_allclose(ops.conv2d(image, kernel, padding=padding), expected, rtol=1e-5, atol=1e-3)


def test_bias_and_relu_match_keras_conv2d_layer():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(9, 9, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 3)).astype(np.float32)
    layer = tf.keras.layers.Conv2D(1, 3, strides=2, padding="same", activation="relu")
    layer.build((None, 9, 9, 3))
    layer.set_weights([kernel[:, :, :, None], np.array([0.25], dtype=np.float32)])
    expected = layer(image[None]).numpy()[0, :, :, 0]
    ours = ops.relu(ops.conv2d(image, kernel, stride=2, padding="same", bias=0.25))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    assert (ours == 0).any() and (ours > 0).any()  # the test exercises both sides of ReLU


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size, stride", [(2, None), (3, None), (2, 1), (3, 2), (2, 3)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("channels", [1, 3])
def test_pool2d_matches_tensorflow(mode, size, stride, padding, channels):
    rng = np.random.default_rng(size * 10 + channels)
    image = rng.normal(size=(11, 10, channels)).astype(np.float32)
    reference = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    expected = reference(image[None], ksize=size, strides=stride or size, padding=padding.upper()).numpy()[0]
    ours = ops.pool2d(image, size=size, stride=stride, mode=mode, padding=padding)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    if channels == 1:
        gray = ops.pool2d(image[:, :, 0], size=size, stride=stride, mode=mode, padding=padding)
        np.testing.assert_allclose(gray, expected[:, :, 0], rtol=1e-5, atol=1e-6)


def test_pool2d_matches_keras_layers_default_stride():
    image = np.arange(7 * 7 * 2, dtype=np.float32).reshape(7, 7, 2) % 11
    for layer, mode in ((tf.keras.layers.MaxPooling2D(2), "max"), (tf.keras.layers.AveragePooling2D(3, padding="same"), "avg")):
        padding = "same" if mode == "avg" else "valid"
        size = 3 if mode == "avg" else 2
        np.testing.assert_allclose(ops.pool2d(image, size, mode=mode, padding=padding),
                                   layer(image[None]).numpy()[0], rtol=1e-6)


@pytest.mark.parametrize("stride, padding, dilation", [(1, "valid", 1), (2, "same", 1), (3, 2, 2), (2, "same", 2)])
def test_window_at_reproduces_every_output_value(stride, padding, dilation):
    rng = np.random.default_rng(11)
    image = rng.normal(size=(8, 9, 3)).astype(np.float32)
    for kernel in (rng.normal(size=(3, 3)), rng.normal(size=(2, 3, 3))):
        output = ops.conv2d(image, kernel, stride=stride, padding=padding, dilation=dilation, bias=0.5)
        for row, col in itertools.product(range(output.shape[0]), range(output.shape[1])):
            window = ops.window_at(image, kernel, row, col, stride=stride, padding=padding, dilation=dilation, bias=0.5)
            np.testing.assert_allclose(window.total, output[row, col], rtol=1e-5, atol=1e-5)
            per_channel = window.products.sum(axis=(0, 1))
            summed = per_channel.sum() if kernel.ndim == 3 else per_channel
            np.testing.assert_allclose(summed + 0.5, output[row, col], rtol=1e-5, atol=1e-5)
    # The window knows where it sits, including taps in the padding (read as zeros).
    corner = ops.window_at(image[:, :, 0], np.ones((3, 3)), 0, 0, padding=1)
    assert corner.rows.tolist() == [-1, 0, 1] and corner.cols.tolist() == [-1, 0, 1]
    assert corner.patch[0].tolist() == [0, 0, 0] and corner.patch[1, 1] == image[0, 0, 0]


def test_output_size_formula():
    assert ops.output_size(32, 3) == 30
    assert ops.output_size(32, 3, padding="same") == 32
    assert ops.output_size(7, 3, stride=2, padding="same") == 4  # ceil(7 / 2)
    assert ops.output_size(10, 3, stride=3, padding=1) == 4  # floor((10 + 2 - 3) / 3) + 1
    assert ops.output_size(9, 3, dilation=4) == 1  # the dilated kernel spans exactly 9 pixels
    assert ops.output_size(8, 3, dilation=4) == 0  # ... and no longer fits 8
    assert ops.padding_amounts(10, 4, stride=1, padding="same") == (1, 2)  # odd zero goes after


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.conv2d(np.zeros((4, 4)), np.ones((5, 5))), "does not fit"),
        (lambda: ops.conv2d(np.zeros((4, 4, 3)), np.ones((3, 3, 2))), "2 channels"),
        (lambda: ops.conv2d(np.zeros((4, 4)), np.ones((3, 3)), stride=0), "stride"),
        (lambda: ops.conv2d(np.zeros((4, 4)), np.ones((3, 3)), padding="full"), "padding"),
        (lambda: ops.conv2d(np.zeros((4, 4)), [[1.0, np.nan]]), "finite"),
        (lambda: ops.pool2d(np.zeros((4, 4)), size=5), "does not fit"),
        (lambda: ops.pool2d(np.zeros((4, 4)), mode="median"), "mode"),
        (lambda: ops.window_at(np.zeros((4, 4)), np.ones((3, 3)), 2, 0), "outside"),
    ],
)
def test_bad_settings_raise_ops_error(call, message):
    with pytest.raises(ops.OpsError, match=message):
        call()
    assert issubclass(ops.OpsError, ValueError)


def test_importing_the_math_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, cnn_core, cnn_core.images, cnn_core.samples, cnn_core.convolution.ops\n"
        "import cnn_core.convolution.kernels, cnn_core.convolution.figures\n"
        "loaded = [name for name in ('tensorflow', 'keras', 'streamlit') if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)

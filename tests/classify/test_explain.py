"""Grad-CAM against an independent SciPy/NumPy CAM, on a synthetic task, and the look-inside helpers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image
from scipy.signal import correlate2d

from cnn_core.classify import explain
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model

# --- A hand-built model whose Grad-CAM has a closed form. ---


def global_average_model(seed: int = 0) -> keras.Model:
    """image -> /255 -> 3x3 conv (4 filters, ReLU) -> global average -> softmax over 3 classes."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1",
                            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.5, seed=seed),
                            bias_initializer=keras.initializers.RandomNormal(0.0, 0.1, seed=seed + 1))(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions",
                                 kernel_initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=seed + 2),
                                 bias_initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=seed + 3))(x)
    return keras.Model(inputs, outputs)


def scipy_feature_maps(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """The conv layer's ReLU output computed with SciPy (zero-padded 'same' cross-correlation)."""
    kernel, bias = (weight.numpy() for weight in model.get_layer("block1_conv1").weights)
    x = image.astype(np.float64) / 255.0
    maps = np.zeros((32, 32, kernel.shape[-1]))
    for out in range(kernel.shape[-1]):
        total = sum(correlate2d(x[..., c], kernel[..., c, out], mode="same") for c in range(3))
        maps[..., out] = np.maximum(total + bias[out], 0.0)
    return maps


def test_grad_cam_equals_class_activation_mapping_for_a_global_average_head():
    # With global average pooling, d logit_c / d A_k = W[k, c] / (h*w) at every position, so
    # Grad-CAM is ReLU(sum_k W[k, c] A_k) up to scale: the CAM of Zhou et al. (2016).
    model = global_average_model()
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    maps = scipy_feature_maps(model, image)
    dense_kernel = model.get_layer("predictions").weights[0].numpy()
    for class_index in range(3):
        cam = np.maximum(maps @ dense_kernel[:, class_index], 0.0)
        expected = cam / cam.max() if cam.max() > 0 else cam
        result = explain.grad_cam(model, image, class_index)
        assert result.shape == (32, 32)
        np.testing.assert_allclose(result, expected, atol=2e-4)


def test_logits_and_softmax_match_the_model_and_a_numpy_reference():
    model = global_average_model(seed=5)
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    dense_kernel, dense_bias = (weight.numpy() for weight in model.get_layer("predictions").weights)
    expected_logits = scipy_feature_maps(model, image).mean(axis=(0, 1)) @ dense_kernel + dense_bias
    values = explain.logits(model, image)
    np.testing.assert_allclose(values, expected_logits, atol=1e-4)
    probabilities = model(image[None].astype(np.float32), training=False).numpy()[0]
    np.testing.assert_allclose(explain.softmax(values), probabilities, atol=1e-5)
    assert explain.softmax(np.array([1000.0, 1000.0])) == pytest.approx([0.5, 0.5])  # no overflow


def test_last_layer_numbers_are_the_dense_layer_at_work():
    model = global_average_model(seed=5)
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    numbers = explain.last_layer(model, image)
    dense_kernel, dense_bias = (weight.numpy() for weight in model.get_layer("predictions").weights)
    assert numbers.source == "global_pool"
    np.testing.assert_allclose(numbers.features, scipy_feature_maps(model, image).mean(axis=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(numbers.weighted_sums, numbers.features @ dense_kernel, atol=1e-6)
    np.testing.assert_allclose(numbers.weighted_sums + dense_bias, numbers.logits, atol=1e-9)
    # With hidden dense layers and dropout, x is what the last hidden layer computed (dropout is off).
    deep = build_model(TrainConfig(filters=[4], dense_units=[6], dropout_rate=0.5), num_classes=3)
    assert explain.last_layer(deep, image).source == "dense1"
    assert explain.last_layer(deep, image).features.shape == (6,)


def test_grad_cam_channel_weights_have_the_closed_form_of_a_global_average_head():
    # d logit_c / d A^k_ij = W[k, c] / (h*w) at every position, so the averaged gradient is that too.
    model = global_average_model(seed=3)
    image = np.random.default_rng(4).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    dense_kernel = model.get_layer("predictions").weights[0].numpy()
    details = explain.grad_cam_details(model, image, 2)
    assert details.class_index == 2 and details.layer_name == "block1_conv1"
    assert details.feature_shape == (32, 32, 4)
    np.testing.assert_allclose(details.channel_weights, dense_kernel[:, 2] / (32 * 32), rtol=1e-4, atol=1e-9)
    heatmap, _ = explain.grad_cam_map(model, image, 2)
    np.testing.assert_array_equal(heatmap, details.heatmap)
    assert explain.is_pooling_layer("block2_pool") and not explain.is_pooling_layer("block2_act1")


def test_grad_cam_defaults_to_the_predicted_class_and_checks_the_index():
    model = global_average_model(seed=7)
    image = np.random.default_rng(2).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    predicted = int(np.argmax(explain.logits(model, image)))
    _, chosen = explain.grad_cam_map(model, image)
    assert chosen == predicted
    with pytest.raises(explain.ExplainError, match="outside"):
        explain.grad_cam(model, image, class_index=3)


# --- Grad-CAM finds the object that decides a synthetic task. ---


def object_images(count: int, seed: int):
    """Grey noise with one 8x8 square at a random place: red square = class 0, green = class 1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = np.repeat(rng.integers(40, 120, (count, 32, 32, 1)), 3, axis=-1)
    corners = rng.integers(0, 25, (count, 2))
    for index, (label, (top, left)) in enumerate(zip(labels, corners)):
        images[index, top : top + 8, left : left + 8] = (230, 40, 40) if label == 0 else (40, 230, 40)
    return images.astype(np.uint8), labels, corners


@pytest.fixture(scope="module")
def object_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    # The seed tutorial's shape (valid padding, flatten head), shrunk.
    model = build_model(TrainConfig(filters=[8, 16]), num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    images, labels, _ = object_images(300, seed=1)
    model.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    return model


def test_grad_cam_highlights_the_square_that_decides_the_class(object_model):
    images, labels, corners = object_images(24, seed=2)
    predicted = object_model(images.astype(np.float32), training=False).numpy().argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.9
    on_square_half, contrast = [], []
    for image, label, (top, left) in zip(images, labels, corners):
        heatmap = explain.grad_cam(object_model, image, int(label))
        assert heatmap.shape == (32, 32) and heatmap.min() >= 0.0 and 0.9 < heatmap.max() <= 1.0
        columns = slice(0, 16) if left + 4 <= 16 else slice(16, 32)
        on_square_half.append(heatmap[:, columns].sum() / heatmap.sum())
        near = np.zeros((32, 32), dtype=bool)
        near[max(top - 2, 0) : top + 10, max(left - 2, 0) : left + 10] = True
        contrast.append(heatmap[near].mean() / (heatmap[~near].mean() + 1e-6))
    assert np.mean(on_square_half) > 0.7
    assert np.mean(np.array(contrast) > 3.0) >= 0.9  # heat near the square >> heat elsewhere


# --- Look inside. ---


def test_activations_of_every_conv_and_pooling_layer():
    model = build_model(TrainConfig(filters=[4, 8], batch_norm=True, padding="same"), num_classes=3)
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    activations = explain.layer_activations(model, image)
    assert list(activations) == ["block1_act1", "block1_pool", "block2_act1", "block2_pool"]
    assert activations["block1_act1"].shape == (32, 32, 4)
    assert activations["block2_pool"].shape == (8, 8, 8)
    # The pooled map is the 2x2 max of the map before it (NumPy reference).
    before = activations["block2_act1"]
    expected = before.reshape(8, 2, 8, 2, 8).max(axis=(1, 3))
    np.testing.assert_allclose(activations["block2_pool"], expected, atol=1e-6)
    assert (activations["block1_act1"] >= 0).all()  # after the ReLU

    seed_like = build_model(TrainConfig(filters=[4, 8]), num_classes=3)  # activation inside the conv
    assert list(explain.layer_activations(seed_like, image)) == ["block1_conv1", "block1_pool", "block2_conv1", "block2_pool"]
    assert explain.last_conv_layer_name(seed_like) == "block2_conv1"


def test_first_layer_filters_and_sending_one_as_a_kernel():
    model = build_model(TrainConfig(filters=[6], kernel_size=5), num_classes=2)
    filters = explain.first_layer_filters(model)
    assert filters.shape == (5, 5, 3, 6)
    np.testing.assert_array_equal(filters, model.get_layer("block1_conv1").kernel.numpy())
    mean_kernel = explain.filter_as_kernel(filters, 2)
    assert len(mean_kernel) == 5 and all(len(row) == 5 for row in mean_kernel)
    assert isinstance(mean_kernel[0][0], float)
    np.testing.assert_allclose(mean_kernel, filters[..., 2].mean(axis=-1), atol=1e-7)
    np.testing.assert_allclose(explain.filter_as_kernel(filters, 2, channel=1), filters[:, :, 1, 2])
    with pytest.raises(explain.ExplainError):
        explain.filter_as_kernel(filters, 6)
    with pytest.raises(explain.ExplainError):
        explain.filter_as_kernel(filters, 0, channel=3)


def test_a_whitening_first_layer_is_reported_as_fixed():
    whitened = build_model(TrainConfig(filters=[6], whitening_patch=2), num_classes=2)
    assert explain.first_conv_layer(whitened).name == "block0_conv1" and explain.first_layer_is_fixed(whitened)
    assert explain.first_layer_filters(whitened).shape == (2, 2, 3, 24)
    plain = build_model(TrainConfig(filters=[6]), num_classes=2)
    assert explain.first_conv_layer(plain).name == "block1_conv1" and not explain.first_layer_is_fixed(plain)


# --- Heatmap over the original photo. ---


def test_heatmap_over_a_cropped_original_is_cold_outside_the_crop():
    heatmap = np.full((32, 32), 0.8, dtype=np.float32)
    placed = explain.heatmap_for_original(heatmap, (64, 32), "crop")  # 64 wide: columns 16..47 were seen
    assert placed.shape == (32, 64)
    assert (placed[:, :16] == 0).all() and (placed[:, 48:] == 0).all()
    np.testing.assert_allclose(placed[:, 16:48], 0.8, atol=1e-6)


def test_heatmap_over_a_padded_original_drops_the_padding():
    # A 32x16 photo is padded with 8 rows above and below; heat only on the photo's rows survives.
    heatmap = np.zeros((32, 32), dtype=np.float32)
    heatmap[8:24] = 0.5
    placed = explain.heatmap_for_original(heatmap, (32, 16), "pad")
    assert placed.shape == (16, 32)
    np.testing.assert_allclose(placed, 0.5, atol=1e-6)


def test_overlay_keeps_cold_pixels_and_colours_hot_ones():
    photo = Image.new("RGB", (20, 10), (100, 100, 100))
    heatmap = np.zeros((10, 20), dtype=np.float32)
    heatmap[:, 10:] = 1.0
    blended = np.asarray(explain.overlay(photo, heatmap, strength=1.0))
    assert (blended[:, :10] == 100).all()
    np.testing.assert_array_equal(blended[:, 15], np.tile(explain.colorize(np.array([1.0]))[0], (10, 1)))
    assert explain.colorize(np.array([0.0, 1.0])).tolist() == [[68, 1, 84], [253, 231, 37]]  # Viridis' ends
    strip = explain.legend_strip(50, 4)
    assert strip.shape == (4, 50, 3) and strip[0, 0].tolist() == [68, 1, 84] and strip[0, -1].tolist() == [253, 231, 37]


# --- Grids for display. ---


def test_tile_places_images_row_by_row_with_gaps():
    images = np.arange(1, 4, dtype=np.uint8)[:, None, None] * np.ones((3, 2, 2), dtype=np.uint8)
    grid = explain.tile(images, columns=2, gap=1, gap_value=0)
    assert grid.shape == (5, 5)
    assert (grid[:2, :2] == 1).all() and (grid[:2, 3:] == 2).all() and (grid[3:, :2] == 3).all()
    assert (grid[2] == 0).all() and (grid[3:, 3:] == 0).all()  # the gap row and the empty last cell


def test_activation_grid_stretches_each_channel_and_keeps_dead_ones_black():
    feature_map = np.zeros((2, 2, 2), dtype=np.float32)
    feature_map[..., 0] = [[1.0, 2.0], [3.0, 5.0]]  # channel 0: 1..5 -> 0..255
    grid = explain.activation_grid(feature_map, columns=2, scale=1)
    assert grid.shape == (2, 5)
    np.testing.assert_array_equal(grid[:, :2], [[0, 64], [128, 255]])  # (x - 1) / 4 * 255, rounded
    assert (grid[:, 3:] == 0).all()  # channel 1 never fired


def test_filter_grid_maps_zero_to_grey_and_the_peak_to_the_extremes():
    filters = np.zeros((1, 1, 3, 1), dtype=np.float32)
    filters[0, 0, :, 0] = [0.5, -0.5, 0.0]
    grid = explain.filter_grid(filters, scale=1)
    np.testing.assert_array_equal(grid[0, 0], [255, 1, 128])

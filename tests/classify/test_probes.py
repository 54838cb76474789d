"""Occlusion and what-if perturbations against direct loops and Pillow/NumPy references."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image, ImageFilter

from cnn_core.classify import probes

from helpers.colour_task import colour_images, untrained_colour_model


@pytest.fixture(scope="module")
def tiny_model():
    return untrained_colour_model(seed=3)


@pytest.fixture(scope="module")
def photo():
    return colour_images(1, seed=5)[0][0]


def test_patch_positions_cover_the_far_edge():
    assert probes.patch_positions(32, 8, 2) == tuple(range(0, 25, 2))
    assert probes.patch_positions(10, 4, 4) == (0, 4, 6)  # 8 would overrun: the last patch sits flush
    with pytest.raises(probes.ProbeError):
        probes.patch_positions(32, 40, 2)
    with pytest.raises(probes.ProbeError):
        probes.patch_positions(32, 8, 0)


def test_occlusion_equals_a_direct_loop_over_patch_positions(tiny_model, photo):
    result = probes.occlusion(tiny_model, photo, class_index=1, patch=8, stride=4)
    assert result.probabilities.shape == (len(result.rows), len(result.cols)) == (7, 7)
    base = keras.ops.convert_to_numpy(tiny_model(photo[None].astype(np.float32), training=False))[0, 1]
    assert result.base_probability == pytest.approx(float(base), abs=1e-6)
    for r, top in enumerate(result.rows):
        for c, left in enumerate(result.cols):
            covered = photo.astype(np.float32).copy()
            covered[top : top + 8, left : left + 8] = 128
            expected = keras.ops.convert_to_numpy(tiny_model(covered[None], training=False))[0, 1]
            assert result.probabilities[r, c] == pytest.approx(float(expected), abs=1e-5)
    # Pixel (0, 0) is covered only by the patch at (0, 0); pixel (10, 10) by the patches at rows/cols 4 and 8.
    assert result.pixel_drop[0, 0] == pytest.approx(result.drops[0, 0], abs=1e-5)
    assert result.pixel_drop[10, 10] == pytest.approx(result.drops[1:3, 1:3].mean(), abs=1e-5)


def test_occlusion_finds_the_part_a_model_needs():
    # A model that only looks at the top-left quarter's red: covering it is what drops the class.
    inputs = keras.Input((32, 32, 3))
    cropped = keras.layers.Cropping2D(((0, 16), (0, 16)))(inputs)
    red = keras.layers.Lambda(lambda x: x[..., :1])(cropped)
    score = keras.layers.GlobalAveragePooling2D()(red)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.Constant([[0.02, -0.02]]),
                                 bias_initializer=keras.initializers.Constant([-5.0, 5.0]))(score)
    model = keras.Model(inputs, outputs)
    image = np.full((32, 32, 3), 250, dtype=np.uint8)  # scores (0, 0): p = 0.5; a black patch there: p = 0.076
    result = probes.occlusion(model, image, class_index=0, patch=8, stride=8, fill=0)
    assert result.base_probability == pytest.approx(0.5, abs=1e-6)
    assert result.drops[:2, :2] == pytest.approx(np.full((2, 2), 0.5 - 1 / (1 + np.exp(2.5))), abs=1e-5)
    assert np.allclose(result.drops[2:, :], 0, atol=1e-6) and np.allclose(result.drops[:, 2:], 0, atol=1e-6)


def test_perturbations_match_their_definitions(photo):
    assert np.array_equal(probes.perturb(photo, "brightness", 30), np.clip(photo.astype(int) + 30, 0, 255))
    mean = photo.reshape(-1, 3).mean(axis=0)
    contrast = np.clip(np.round((photo - mean) * 0.5 + mean), 0, 255)
    assert np.abs(probes.perturb(photo, "contrast", 0.5).astype(int) - contrast).max() <= 1
    blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(1.5)))
    assert np.array_equal(probes.perturb(photo, "blur", 1.5), blurred)
    shifted = probes.perturb(photo, "shift", 3)
    assert np.array_equal(shifted[:, 3:], photo[:, :-3])
    rotated = probes.perturb(photo, "rotation", 90)
    assert np.abs(rotated.astype(int) - np.rot90(photo).astype(int)).max() <= 1
    noisy = probes.perturb(photo, "noise", 20).astype(float) - photo
    assert 10 < noisy[(photo > 30) & (photo < 225)].std() < 30
    for kind in probes.PERTURBATIONS:  # every slider's neutral value leaves the photo as it was
        assert np.array_equal(probes.perturb(photo, kind, probes.RANGES[kind][3]), photo), kind
    with pytest.raises(probes.ProbeError):
        probes.perturb(photo, "sepia", 1)


def test_a_curve_is_one_batch_that_matches_single_calls(tiny_model, photo):
    levels, probabilities = probes.curve(tiny_model, photo, "brightness", [-60, 0, 60])
    assert probabilities.shape == (3, 3)
    for level, row in zip(levels, probabilities):
        single = keras.ops.convert_to_numpy(
            tiny_model(probes.perturb(photo, "brightness", level)[None].astype(np.float32), training=False))[0]
        np.testing.assert_allclose(row, single, atol=1e-5)
    assert probes.top_classes_over(np.array([[0.1, 0.8, 0.1], [0.5, 0.2, 0.3]]), 2) == [1, 0]

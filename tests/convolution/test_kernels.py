"""cnn_core.convolution.kernels: the presets do what their names say, checked against SciPy's own filters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cnn_core.convolution import kernels, ops


def test_every_preset_has_a_3x3_and_the_promised_5x5s():
    assert set(kernels.KERNEL_PRESETS) == {"identity", "box_blur", "gaussian_blur", "sharpen", "laplacian",
                                           "sobel_x", "sobel_y", "emboss", "outline"}
    assert kernels.DEFAULT_PRESET in kernels.KERNEL_PRESETS
    for preset in kernels.KERNEL_PRESETS.values():
        assert preset.kernel(3).shape == (3, 3)
    assert sum(5 in preset.sizes for preset in kernels.KERNEL_PRESETS.values()) == 8


def test_names_and_descriptions_come_in_both_languages():
    presets = kernels.KERNEL_PRESETS.values()
    for language in ("en", "zh"):
        labels = [preset.label(language) for preset in presets]
        assert len(set(labels)) == len(labels)  # a menu never shows two identical entries
        assert all(preset.description(language) for preset in presets)
    assert kernels.KERNEL_PRESETS["gaussian_blur"].label("en") == "Gaussian blur"
    assert kernels.KERNEL_PRESETS["gaussian_blur"].label("zh") == "高斯模糊"
    assert kernels.KERNEL_PRESETS["sobel_x"].label("zh") == "Sobel x"  # a proper name stays
    assert "边缘" in kernels.KERNEL_PRESETS["sobel_x"].description("zh")


@pytest.mark.parametrize("size", [3, 5])
def test_brightness_keeping_and_edge_kernels(size):
    sums = {name: preset.kernel(size).sum() for name, preset in kernels.KERNEL_PRESETS.items() if size in preset.sizes}
    for name in ("identity", "box_blur", "gaussian_blur", "sharpen", "emboss"):
        assert sums[name] == pytest.approx(1.0, abs=1e-6), name  # a flat area keeps its brightness
    for name in ("laplacian", "sobel_x", "sobel_y", "outline"):
        if name in sums:
            assert sums[name] == pytest.approx(0.0, abs=1e-6), name  # a flat area gives 0


def test_sobel_and_laplacian_match_scipy():
    image = np.random.default_rng(0).normal(size=(20, 24)).astype(np.float32)
    # SciPy's filters keep the size with mirrored borders; compare where no border is involved.
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("sobel_x")), ndimage.sobel(image, axis=1)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("sobel_y")), ndimage.sobel(image, axis=0)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("laplacian")), ndimage.laplace(image)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    blurred = ops.conv2d(image, kernels.preset_kernel("gaussian_blur", 5))
    expected = ndimage.correlate(image, np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0)[2:-2, 2:-2]
    np.testing.assert_allclose(blurred, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [3, 5])
def test_sobel_x_is_positive_where_the_image_brightens_to_the_right(size):
    ramp = np.tile(np.arange(12, dtype=np.float32), (12, 1))
    assert (ops.conv2d(ramp, kernels.preset_kernel("sobel_x", size)) > 0).all()
    assert np.allclose(ops.conv2d(ramp, kernels.preset_kernel("sobel_y", size)), 0)


def test_unknown_names_and_sizes_raise_value_error():
    with pytest.raises(ValueError, match="Unknown kernel"):
        kernels.preset_kernel("Blur-o-matic")
    with pytest.raises(ValueError, match="3x3"):
        kernels.preset_kernel("outline", 5)
    first = kernels.preset_kernel("identity")
    first[1, 1] = 9  # callers get copies: editing one never changes the preset
    assert kernels.preset_kernel("identity")[1, 1] == 1


def test_closest_preset_is_found_by_cosine_of_zero_mean_kernels():
    from cnn_core.convolution.kernels import closest_preset, preset_kernel

    sobel = preset_kernel("sobel_x", 3)
    match = closest_preset(2.5 * sobel + 0.3)  # scaled and shifted: the same shape
    assert (match.name, match.size, match.negated) == ("sobel_x", 3, False) and match.similarity == pytest.approx(1.0)
    assert closest_preset(-sobel).negated and closest_preset(-sobel).name == "sobel_x"
    assert closest_preset(preset_kernel("sobel_y", 5)).name == "sobel_y"
    noisy = preset_kernel("laplacian", 3) + np.random.default_rng(0).normal(0, 0.1, (3, 3))
    match = closest_preset(noisy)
    centred = noisy - noisy.mean()
    reference = preset_kernel(match.name, 3) - preset_kernel(match.name, 3).mean()
    cosine = (centred * reference).sum() / np.linalg.norm(centred) / np.linalg.norm(reference)
    assert match.similarity == pytest.approx(abs(cosine))
    assert match.similarity >= 0.9
    assert closest_preset(np.ones((3, 3))) is None and closest_preset(np.eye(7)) is None

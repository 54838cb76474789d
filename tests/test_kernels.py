"""cnn_core.kernels: the presets do what their names say, checked against SciPy's own filters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cnn_core import kernels, ops


def test_every_preset_has_a_3x3_and_the_promised_5x5s():
    assert set(kernels.KERNEL_PRESETS) == {"Identity", "Box blur", "Gaussian blur", "Sharpen", "Laplacian edge",
                                           "Sobel x", "Sobel y", "Emboss", "Outline"}
    for preset in kernels.KERNEL_PRESETS.values():
        assert preset.kernel(3).shape == (3, 3) and preset.description
    assert sum(5 in preset.sizes for preset in kernels.KERNEL_PRESETS.values()) == 8


@pytest.mark.parametrize("size", [3, 5])
def test_brightness_keeping_and_edge_kernels(size):
    sums = {name: preset.kernel(size).sum() for name, preset in kernels.KERNEL_PRESETS.items() if size in preset.sizes}
    for name in ("Identity", "Box blur", "Gaussian blur", "Sharpen", "Emboss"):
        assert sums[name] == pytest.approx(1.0, abs=1e-6), name  # a flat area keeps its brightness
    for name in ("Laplacian edge", "Sobel x", "Sobel y", "Outline"):
        if name in sums:
            assert sums[name] == pytest.approx(0.0, abs=1e-6), name  # a flat area gives 0


def test_sobel_and_laplacian_match_scipy():
    image = np.random.default_rng(0).normal(size=(20, 24)).astype(np.float32)
    # SciPy's filters keep the size with mirrored borders; compare where no border is involved.
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("Sobel x")), ndimage.sobel(image, axis=1)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("Sobel y")), ndimage.sobel(image, axis=0)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.conv2d(image, kernels.preset_kernel("Laplacian edge")), ndimage.laplace(image)[1:-1, 1:-1],
                               rtol=1e-5, atol=1e-5)
    blurred = ops.conv2d(image, kernels.preset_kernel("Gaussian blur", 5))
    expected = ndimage.correlate(image, np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0)[2:-2, 2:-2]
    np.testing.assert_allclose(blurred, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [3, 5])
def test_sobel_x_is_positive_where_the_image_brightens_to_the_right(size):
    ramp = np.tile(np.arange(12, dtype=np.float32), (12, 1))
    assert (ops.conv2d(ramp, kernels.preset_kernel("Sobel x", size)) > 0).all()
    assert np.allclose(ops.conv2d(ramp, kernels.preset_kernel("Sobel y", size)), 0)


def test_unknown_names_and_sizes_raise_value_error():
    with pytest.raises(ValueError, match="Unknown kernel"):
        kernels.preset_kernel("Blur-o-matic")
    with pytest.raises(ValueError, match="3x3"):
        kernels.preset_kernel("Outline", 5)
    first = kernels.preset_kernel("Identity")
    first[1, 1] = 9  # callers get copies: editing one never changes the preset
    assert kernels.preset_kernel("Identity")[1, 1] == 1

"""cnn_core.samples: every bundled image loads offline, and the module works without scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core import samples


def test_every_sample_loads_as_rgb_with_a_credit():
    names = samples.sample_names()
    assert {"Shapes", "Checkerboard", "Stripes"} <= set(names)
    for name in names:
        image = samples.load_sample(name)
        assert image.mode == "RGB" and min(image.size) >= 128, name
        assert samples.sample_credit(name)
    first = samples.load_sample(names[0])
    first.putpixel((0, 0), (1, 2, 3))  # callers get copies
    assert samples.load_sample(names[0]).getpixel((0, 0)) != (1, 2, 3)


def test_photos_are_exactly_scikit_images_own():
    data = pytest.importorskip("skimage.data")
    np.testing.assert_array_equal(np.asarray(samples.load_sample("Astronaut")), data.astronaut())
    camera = np.asarray(samples.load_sample("Camera man (greyscale)"))
    np.testing.assert_array_equal(camera[:, :, 0], data.camera())  # grey copied into R, G and B


def test_without_scikit_image_the_drawn_samples_remain(monkeypatch):
    monkeypatch.setattr(samples, "_skimage_data_dir", lambda: None)
    assert samples.sample_names() == ["Shapes", "Checkerboard", "Stripes"]
    checkerboard = np.asarray(samples.load_sample("Checkerboard"))
    assert checkerboard[0, 0].tolist() == [0, 0, 0] and checkerboard[0, 32].tolist() == [255, 255, 255]


def test_unknown_sample_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown sample"):
        samples.load_sample("Mona Lisa")


def test_menu_names_and_credits_in_both_languages():
    names = samples.sample_names()
    for language in ("en", "zh"):
        labels = [samples.sample_label(name, language) for name in names]
        assert len(set(labels)) == len(labels) and all(samples.sample_credit(name, language) for name in names)
    assert [samples.sample_label(name) for name in names] == names  # in English the menu shows the stable names
    assert samples.sample_label("Checkerboard", "zh") == "棋盘格"
    assert samples.sample_credit("Shapes", "zh") == "由 CNN Studio 绘制"
    if "Cat (Chelsea)" in names:
        assert "CC0" in samples.sample_credit("Cat (Chelsea)", "zh") and "摄影" in samples.sample_credit("Cat (Chelsea)", "zh")

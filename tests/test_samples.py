"""cnn_core.samples: every bundled image loads offline, with its licence written down, and no scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core import samples

from helpers.paths import PROJECT_ROOT


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


def test_every_bundled_photo_is_shown_and_has_its_licence_written_down():
    folder = samples.PHOTO_FOLDER
    files = sorted(path.name for path in folder.iterdir() if path.suffix in (".jpg", ".png"))
    licences = (folder / "LICENSES.md").read_text(encoding="utf-8")
    assert files and all(f"`{name}`" in licences for name in files)
    assert len(samples.sample_names()) == len(files) + 3  # every photo, then the three drawn pictures
    grey = np.asarray(samples.load_sample("Camera man (greyscale)"))
    assert (grey[:, :, 0] == grey[:, :, 1]).all() and grey.std() > 20  # grey copied into R, G and B; a real photo


def test_scikit_image_is_no_dependency():
    requirements = (PROJECT_ROOT / "requirements.txt").read_text() + (PROJECT_ROOT / "requirements-dev.txt").read_text()
    assert "scikit-image" not in requirements
    source = (PROJECT_ROOT / "cnn_core" / "samples.py").read_text()
    assert "skimage" not in source


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
    assert "CC0" in samples.sample_credit("Cat (Chelsea)", "zh") and "摄影" in samples.sample_credit("Cat (Chelsea)", "zh")

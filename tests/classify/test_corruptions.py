"""The corruption suite against references built from each corruption's definition (NumPy, Pillow), not from probes."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from PIL import Image, ImageFilter

from cnn_core.classify import corruptions, probes

from helpers.colour_task import colour_images, untrained_colour_model

COUNT = 60


@pytest.fixture(scope="module")
def images():
    return colour_images(COUNT, seed=11)[0]


def pillow_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Pillow's own JPEG round trip, written out here as the reference."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.array(Image.open(buffer).convert("RGB"))


def reference_corruption(image: np.ndarray, index: int, kind: str, level: float) -> np.ndarray:
    """Each corruption from its definition: seeded Gaussian noise, Pillow's blur and JPEG, contrast around the mean."""
    if kind == "noise":
        noise = np.random.default_rng(index).normal(0.0, 1.0, image.shape) * level
        return np.clip(np.round(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)
    if kind == "blur":
        return np.array(Image.fromarray(image).filter(ImageFilter.GaussianBlur(level)))
    if kind == "jpeg":
        return pillow_jpeg(image, int(level))
    assert kind == "contrast"
    mean = image.reshape(-1, 3).mean(axis=0)
    return np.clip(np.round((image - mean) * level + mean), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("quality", [5, 30, 75, 95])
def test_jpeg_is_pillows_own_round_trip(images, quality):
    for image in images[:5]:
        assert np.array_equal(probes.perturb(image, "jpeg", quality), pillow_jpeg(image, quality))
    assert not np.array_equal(probes.perturb(images[0], "jpeg", 30), images[0])  # it did compress


def test_jpeg_quality_100_is_the_photo_itself_and_out_of_range_is_refused(images):
    assert np.array_equal(probes.perturb(images[0], "jpeg", 100), images[0])
    for quality in (0, 101, -5):
        with pytest.raises(probes.ProbeError, match="JPEG quality"):
            probes.perturb(images[0], "jpeg", quality)


def test_the_suite_is_the_documented_corruptions():
    assert [(c.name, c.kind, c.level) for c in corruptions.SUITE] == [
        ("noise_4", "noise", 4.0), ("noise_8", "noise", 8.0), ("blur_1", "blur", 1.0), ("jpeg_30", "jpeg", 30.0),
        ("contrast_0.6", "contrast", 0.6)]


@pytest.mark.parametrize("corruption", corruptions.SUITE, ids=corruptions.NAMES)
def test_each_corruption_equals_its_definition_image_by_image(images, corruption):
    corrupted = corruptions.corrupt(images, corruption)
    for index, image in enumerate(images):
        expected = reference_corruption(image, index, corruption.kind, corruption.level)
        assert np.array_equal(corrupted[index], expected)


def test_noise_is_deterministic_and_differs_between_images(images):
    noise = corruptions.SUITE[1]
    first, again = corruptions.corrupt(images, noise), corruptions.corrupt(images, noise)
    assert np.array_equal(first, again)
    same = np.repeat(images[:1], 3, axis=0)  # three copies of one image still get three different noises
    noisy = corruptions.corrupt(same, noise).astype(int) - same
    assert not np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[1], noisy[2])
    inside = (same > 40) & (same < 215)  # away from clipping, the spread is the level
    assert 6.5 < noisy[inside].std() < 9.5


def test_suite_accuracy_equals_a_direct_loop_of_single_model_calls(images):
    model = untrained_colour_model(seed=4)  # near-even softmax: small corruptions flip some predictions
    labels = np.random.default_rng(2).integers(0, 3, COUNT)
    result = corruptions.corruption_accuracy(model, images, labels)

    def predicted(image: np.ndarray) -> int:
        return int(np.argmax(keras.ops.convert_to_numpy(model(image[None].astype(np.float32), training=False))))

    expected = {"clean": np.mean([predicted(image) == label for image, label in zip(images, labels)])}
    for corruption in corruptions.SUITE:
        expected[corruption.name] = np.mean([
            predicted(reference_corruption(image, index, corruption.kind, corruption.level)) == label
            for index, (image, label) in enumerate(zip(images, labels))])
    expected["mean"] = np.mean([expected[name] for name in corruptions.NAMES])
    assert list(result) == ["clean", *corruptions.NAMES, "mean"]
    for name, value in expected.items():
        assert result[name] == pytest.approx(float(value), abs=1e-9), name
    assert len({round(value, 6) for value in result.values()}) > 2  # the corruptions did move the predictions


def test_an_empty_split_scores_zero():
    model = untrained_colour_model(seed=4)
    empty = np.zeros((0, 32, 32, 3), dtype=np.uint8)
    assert corruptions.corruption_accuracy(model, empty, np.zeros(0, dtype=int)) == {
        "clean": 0.0, **dict.fromkeys(corruptions.NAMES, 0.0), "mean": 0.0}

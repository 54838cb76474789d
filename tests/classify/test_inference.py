"""Preprocessing to the network's 32x32 input (checked by hand) and classification with a tiny trained model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnn_core.classify.inference import (
    LOW_CONFIDENCE_THRESHOLD,
    PreprocessError,
    describe_preprocessing,
    is_low_confidence,
    prepare_image,
    square_box,
    top_classes,
)
from cnn_core.training.config import TrainConfig

from helpers.colour_task import CLASSES, colour_images, train_colour_model

# A 4-wide, 2-high image whose four columns have four colours (each column the same in both rows).
COLUMNS = [(0, 0, 0), (10, 20, 30), (30, 60, 90), (200, 100, 50)]


def four_by_two() -> Image.Image:
    pixels = np.array([COLUMNS, COLUMNS], dtype=np.uint8)  # (height 2, width 4, 3)
    return Image.fromarray(pixels)


# --- Preprocessing: hand-computed cases. ---


def test_square_box_centres_and_sends_odd_leftover_right():
    assert square_box(4, 2) == (1, 0, 3, 2)
    assert square_box(2, 4) == (0, 1, 2, 3)
    assert square_box(5, 2) == (1, 0, 3, 2)  # 3 columns left over: 1 left, 2 right
    assert square_box(7, 7) == (0, 0, 7, 7)


def test_crop_keeps_the_two_middle_columns_unchanged():
    # Crop 4x2 -> the 2x2 centre (columns 1 and 2); resizing 2x2 to 2x2 changes nothing.
    result = prepare_image(four_by_two(), "crop", size=2)
    expected = np.array([[COLUMNS[1], COLUMNS[2]], [COLUMNS[1], COLUMNS[2]]], dtype=np.uint8)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == np.uint8


def test_crop_then_shrink_to_one_pixel_is_the_mean_of_the_kept_columns():
    # Lanczos weights are symmetric: two source pixels at equal distance from the output centre
    # get equal weights, so the 1x1 result is their plain mean (10+30)/2, (20+60)/2, (30+90)/2.
    result = prepare_image(four_by_two(), "crop", size=1)
    np.testing.assert_array_equal(result, np.array([[[20, 40, 60]]], dtype=np.uint8))


def test_pad_adds_a_row_of_average_colour_above_and_below():
    # Pad 4x2 -> 4x4: rows 0 and 3 are the image's mean colour, rows 1-2 the image itself.
    mean = np.round(np.mean(COLUMNS, axis=0)).astype(np.uint8)  # (60, 45, 42.5 -> 42)
    assert mean.tolist() == [60, 45, 42]
    result = prepare_image(four_by_two(), "pad", size=4)
    np.testing.assert_array_equal(result[0], np.tile(mean, (4, 1)))
    np.testing.assert_array_equal(result[3], np.tile(mean, (4, 1)))
    np.testing.assert_array_equal(result[1], np.array(COLUMNS, dtype=np.uint8))
    np.testing.assert_array_equal(result[2], np.array(COLUMNS, dtype=np.uint8))


def test_portrait_crop_keeps_the_middle_rows():
    rows = np.array([[[row * 40] * 3] * 2 for row in range(4)], dtype=np.uint8)  # 2 wide, 4 high
    result = prepare_image(Image.fromarray(rows), "crop", size=2)
    np.testing.assert_array_equal(result[:, :, 0], [[40, 40], [80, 80]])


def test_shrinking_keeps_flat_regions_and_moves_the_edge_to_the_right_place():
    # 128x64: red up to column 79, blue from 80. The crop keeps columns 32..95, so after halving
    # the red/blue edge sits at output column (80 - 32) / 2 = 24 (a squash without crop would put it
    # at 20). Lanczos only blurs ~3 output pixels around the edge.
    pixels = np.zeros((64, 128, 3), dtype=np.uint8)
    pixels[:, :80] = (255, 0, 0)
    pixels[:, 80:] = (0, 0, 255)
    result = prepare_image(Image.fromarray(pixels), "crop", size=32).astype(int)
    assert result.shape == (32, 32, 3)
    assert np.abs(result[:, :21] - [255, 0, 0]).max() <= 1
    assert np.abs(result[:, 28:] - [0, 0, 255]).max() <= 1
    assert 60 < result[:, 23:25, 0].mean() < 200  # the edge is antialiased, not a hard step


def test_box_reduction_of_huge_photos_matches_plain_lanczos():
    # A smooth 2400x1600 gradient: the fast path (box-reduce, then Lanczos) must look the same
    # as a plain Lanczos resize of the centre crop, computed directly with Pillow.
    y, x = np.mgrid[0:1600, 0:2400]
    pixels = np.stack([x * 255 // 2399, y * 255 // 1599, (x + y) * 255 // 3998], axis=-1).astype(np.uint8)
    image = Image.fromarray(pixels)
    square = image.crop((400, 0, 2000, 1600))
    reference = np.asarray(square.resize((32, 32), Image.Resampling.LANCZOS), dtype=int)
    result = prepare_image(image, "crop").astype(int)
    assert np.abs(result - reference).mean() < 1.0
    assert np.abs(result - reference).max() <= 4


def test_grey_and_palette_inputs_become_rgb():
    result = prepare_image(Image.new("L", (10, 6), 77), "pad", size=4)
    assert result.shape == (4, 4, 3)
    assert (result == 77).all()


def test_bad_options_raise_preprocess_error():
    with pytest.raises(PreprocessError, match="fit"):
        prepare_image(four_by_two(), "stretch")
    with pytest.raises(PreprocessError, match="size"):
        prepare_image(four_by_two(), "crop", size=0)
    assert issubclass(PreprocessError, ValueError)


def test_description_states_every_step():
    crop = describe_preprocessing("crop", (640, 480))
    assert "480x480" in crop and "EXIF" in crop and "Lanczos" in crop and "32x32" in crop
    assert "640x640" in describe_preprocessing("pad", (640, 480))


def test_description_in_chinese_and_bad_fit():
    assert describe_preprocessing("crop", (640, 480), language="zh") == (
        "640x480 的照片，已按 EXIF 信息校正方向，居中裁剪为 480x480（较长一边的两端被裁掉），"
        "再用抗锯齿的 Lanczos 滤波器缩小到 32x32（比目标大 3 倍以上时先用方框滤波快速缩小）。")
    assert "填充为 640x640" in describe_preprocessing("pad", (640, 480), language="zh")
    with pytest.raises(PreprocessError):
        describe_preprocessing("stretch", (640, 480))


def test_importing_inference_does_not_import_tensorflow():
    code = "import sys, cnn_core.classify.inference; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


# --- Top-k and confidence. ---


def test_top_classes_sorts_and_keeps_ties_in_class_order():
    row = np.array([0.1, 0.3, 0.3, 0.05, 0.25])
    top = top_classes(row, list("abcde"), top_k=3)
    assert [label for label, _ in top] == ["b", "c", "e"]
    assert top[0][1] == pytest.approx(0.3)
    with pytest.raises(PreprocessError, match="class names"):
        top_classes(row, ["a", "b"])


def test_low_confidence_threshold():
    assert LOW_CONFIDENCE_THRESHOLD == 0.5
    assert is_low_confidence([("cat", 0.49)])
    assert not is_low_confidence([("cat", 0.5)])


# --- Classification with a tiny model trained here on a synthetic colour task. ---

@pytest.fixture(scope="module")
def colour_model():
    return train_colour_model(TrainConfig(filters=[4], pooling="max"))


def test_classify_a_tiny_trained_model(colour_model):
    from cnn_core.classify.inference import classify

    images, labels = colour_images(30, seed=2)
    results = classify(colour_model, list(images), CLASSES, top_k=2)
    assert len(results) == 30 and all(len(top) == 2 for top in results)
    predicted = [CLASSES.index(top[0][0]) for top in results]
    assert np.mean(np.array(predicted) == labels) >= 0.9
    # Probabilities are the model's own softmax outputs (TensorFlow reference), sorted.
    reference = colour_model(images.astype(np.float32), training=False).numpy()
    for top, row in zip(results, reference):
        assert top[0][1] >= top[1][1]
        assert top[0][1] == pytest.approx(row.max(), abs=1e-5)
    assert classify(colour_model, [], CLASSES) == []


def test_test_time_flip_averages_with_the_mirror(colour_model):
    from cnn_core.classify.inference import probabilities

    images, _ = colour_images(4, seed=3)
    plain = colour_model(images.astype(np.float32), training=False).numpy()
    mirrored = colour_model(images[:, :, ::-1].astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(probabilities(colour_model, list(images), test_time_flip=True),
                               (plain + mirrored) / 2, atol=1e-5)


def test_classify_refuses_images_of_the_wrong_shape(colour_model):
    from cnn_core.classify.inference import classify

    with pytest.raises(PreprocessError, match="prepare_image"):
        classify(colour_model, [np.zeros((28, 28, 3), dtype=np.uint8)], CLASSES)


def test_default_model_is_the_shipped_one_else_the_newest():
    from cnn_core.classify.inference import default_model

    older = {"name": "older", "created": "2025-01-01T00:00:00"}
    newer = {"name": "newer", "created": "2025-06-01T00:00:00"}
    shipped = {"name": "shipped", "created": "2024-01-01T00:00:00", "shipped": True}
    assert default_model([older, newer])["name"] == "newer"
    assert default_model([older, shipped, newer])["name"] == "shipped"
    assert default_model([]) is None

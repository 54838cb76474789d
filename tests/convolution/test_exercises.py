"""Predict, then reveal: every exercise's answer against Keras (count_params, output shapes) and NumPy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnn_core.convolution import exercises
from cnn_core.convolution.exercises import ExerciseError, check, parse_guess
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model


def keras_side(n: int, k: int, stride: int, padding: str, dilation: int) -> int:
    layer = keras.layers.Conv2D(1, k, strides=stride, padding=padding, dilation_rate=dilation)
    return int(layer.compute_output_shape((1, n, n, 1))[1])


@pytest.mark.parametrize("n, k, stride, padding, dilation",
                         [(32, 3, 1, "valid", 1), (32, 5, 2, "same", 1), (227, 11, 4, "valid", 1), (30, 3, 1, "valid", 2),
                          (7, 3, 3, "same", 1)])
def test_output_size_answers_match_keras(n, k, stride, padding, dilation):
    exercise = exercises.output_size_exercise(n, k, stride, padding, dilation)
    assert exercise.answer == keras_side(n, k, stride, padding, dilation)
    assert check(exercise, str(int(exercise.answer))) and not check(exercise, str(int(exercise.answer) + 1))


def test_explicit_zero_padding_matches_keras_after_a_zero_padding_layer():
    exercise = exercises.output_size_exercise(28, 5, 1, 2, 1)
    padded = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.ZeroPadding2D(2), keras.layers.Conv2D(1, 5)])
    assert exercise.answer == padded.output_shape[1] == 28


@pytest.mark.parametrize("k, channels, filters, bias", [(3, 3, 32, True), (5, 3, 16, False), (3, 64, 128, True)])
def test_conv_parameter_answers_match_count_params(k, channels, filters, bias):
    layer = keras.layers.Conv2D(filters, k, use_bias=bias)
    layer.build((None, 32, 32, channels))
    assert exercises.conv_parameters_exercise(k, channels, filters, bias).answer == layer.count_params()


def test_the_training_pages_questions_match_the_keras_model_they_describe():
    for config in (TrainConfig(filters=[32, 64], batch_norm=False, padding="valid", kernel_size=5),
                   TrainConfig(filters=[16], batch_norm=True, head="flatten")):
        model = build_model(config, num_classes=10)
        head = model.get_layer("predictions")
        size, conv, dense, softmax = exercises.training_exercises(
            config.kernel_size, config.filters[0], config.padding, config.batch_norm, int(head.input.shape[-1]), 10)
        first = model.get_layer("block1_conv1")
        assert size.answer == first.output.shape[1]
        assert conv.answer == first.count_params()
        assert dense.answer == head.count_params()
        assert 0 < softmax.answer < 1


def test_window_sum_and_pooling_match_numpy_and_keras():
    patch = exercises.small_patch(3, seed=4)
    assert patch.min() >= 0 and patch.max() <= 9 and np.array_equal(patch, np.round(patch))
    kernel = np.array([[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]])
    exercise = exercises.window_sum_exercise(patch, kernel, bias=1.5)
    conv = keras.layers.Conv2D(1, 3, kernel_initializer=keras.initializers.Constant(kernel[..., None, None]),
                               bias_initializer=keras.initializers.Constant(1.5))
    expected = float(keras.ops.convert_to_numpy(conv(patch[None, :, :, None].astype("float32")))[0, 0, 0, 0])
    assert exercise.answer == pytest.approx(expected, abs=1e-5)
    window = exercises.small_patch(2, seed=7)
    as_batch = window[None, :, :, None].astype("float32")
    assert exercises.pooling_exercise(window, "max").answer == float(keras.layers.MaxPooling2D(2)(as_batch)[0, 0, 0, 0])
    assert exercises.pooling_exercise(window, "avg").answer == pytest.approx(
        float(keras.layers.AveragePooling2D(2)(as_batch)[0, 0, 0, 0]))


def test_softmax_answer_matches_keras_and_percent_guesses_count():
    scores = exercises.small_scores(seed=2)
    exercise = exercises.softmax_exercise(scores, index=0)
    expected = float(keras.ops.convert_to_numpy(keras.ops.softmax(np.array(scores)))[0])
    assert exercise.answer == pytest.approx(expected)
    assert check(exercise, f"{expected:.3f}") and check(exercise, f"{expected * 100:.2f}%")
    assert not check(exercise, f"{expected + 0.05:.3f}")
    assert exercise.identity != exercises.softmax_exercise(scores, index=1).identity


def test_guesses_are_read_like_people_type_them():
    assert parse_guess(" 1,234 ") == 1234 and parse_guess("25%") == 0.25 and parse_guess("１２") == 12
    assert parse_guess(".5") == 0.5 and parse_guess("-3") == -3
    for bad in ("", "twelve", "1/2", "3..4"):
        with pytest.raises(ExerciseError):
            parse_guess(bad)


def test_the_convolution_pages_set_follows_its_settings():
    size, window, pool = exercises.convolution_exercises(64, np.ones((5, 5)), 2, "same", 1, 0.0, 3, "avg", seed=1)
    assert size.answer == 32 and window.answer == exercises.small_patch(5, 1).sum()
    assert pool.kind == "pooling_avg" and pool.answer == pytest.approx(exercises.small_patch(3, 2).mean())

"""FGSM and PGD against a reference written here with tf.GradientTape, on a tiny trained model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnn_core.classify import adversarial
from cnn_core.training.config import TrainConfig
from cnn_core.training.evaluation import evaluate_model

from helpers.colour_task import CLASSES, colour_images, train_colour_model, untrained_colour_model


@pytest.fixture(scope="module")
def model():
    return train_colour_model(TrainConfig(filters=[4], batch_norm=False, flip=False, epochs=4))


@pytest.fixture(scope="module")
def unsure_model():
    """Untrained: its softmax is far from saturated, so every pixel's gradient is large enough to have a clear sign."""
    return untrained_colour_model(seed=4)


@pytest.fixture(scope="module")
def test_split():
    return colour_images(64, seed=9)


def reference_fgsm(model, images, labels, epsilon):
    """Goodfellow et al.'s step, written out: the sign of d(cross-entropy)/dx, then clip to the pixel range.

    The loss comes from the scores before the softmax (TensorFlow's fused op), as a saturated softmax has no gradient.
    """
    dense = model.get_layer("predictions")
    features = keras.Model(model.input, dense.input)
    x = tf.constant(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.matmul(features(x, training=False), dense.kernel) + dense.bias
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, scores))
    return tf.clip_by_value(x + epsilon * tf.sign(tape.gradient(loss, x)), 0, 255).numpy()


def test_fgsm_matches_a_gradient_tape_reference(unsure_model, test_split):
    images, labels = test_split
    ours = adversarial.fgsm(unsure_model, images[:16], labels[:16], 4)
    np.testing.assert_allclose(ours, reference_fgsm(unsure_model, images[:16], labels[:16], 4.0), atol=1e-4)
    assert np.abs(ours - images[:16]).max() <= 4 + 1e-4


def test_pgd_stays_inside_the_epsilon_box_and_hurts_at_least_as_much_as_its_first_step(model, test_split):
    images, labels = test_split
    attacked = adversarial.pgd(model, images[:16], labels[:16], 6, steps=4)
    assert np.abs(attacked - images[:16]).max() <= 6 + 1e-4 and attacked.min() >= 0 and attacked.max() <= 255
    _, loss_pgd = adversarial.loss_gradient(model, attacked, labels[:16])
    _, loss_clean = adversarial.loss_gradient(model, images[:16], labels[:16])
    assert loss_pgd.mean() > loss_clean.mean()


def test_accuracy_curve_starts_at_the_clean_accuracy_and_falls(model, test_split):
    images, labels = test_split
    curve = adversarial.accuracy_curve(model, images, labels, [0, 8, 64], "fgsm")
    clean = evaluate_model(model, images, labels, CLASSES, test_time_flip=False)["accuracy"]
    assert curve[0] == pytest.approx(clean)
    assert curve[2] < curve[0]
    # The reused sign gives what a fresh FGSM at that epsilon gives.
    fresh = adversarial.fgsm(model, images, labels, 8)
    fresh_accuracy = np.mean(keras.ops.convert_to_numpy(model(fresh, training=False)).argmax(axis=1) == labels)
    assert curve[1] == pytest.approx(float(fresh_accuracy))
    pgd_curve = adversarial.accuracy_curve(model, images, labels, [0, 64], "pgd", steps=2)
    assert pgd_curve[0] == curve[0] and pgd_curve[1] <= curve[0]


def test_explain_photo_keeps_the_numbers_the_page_shows(unsure_model, test_split):
    images, _ = test_split
    example = adversarial.explain_photo(unsure_model, images[0], "fgsm", 16)
    assert example.label == int(np.argmax(example.before))
    assert np.abs(example.perturbation).max() <= 16 + 1e-4
    row, col, channel = example.pixel
    expected = example.original[row, col, channel] + 16 * np.sign(example.pixel_gradient)
    assert example.adversarial[row, col, channel] == pytest.approx(np.clip(expected, 0, 255))
    assert example.loss_after > example.loss_before
    assert example.magnified().dtype == np.uint8 and {0, 255} & set(np.unique(example.magnified()))


def test_bad_settings_are_refused(model, test_split):
    images, labels = test_split
    with pytest.raises(adversarial.AttackError):
        adversarial.attack(model, images[:2], labels[:2], "deepfool", 2)
    with pytest.raises(adversarial.AttackError):
        adversarial.fgsm(model, images[:2], labels[:2], -1)

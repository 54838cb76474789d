"""Adversarial examples: the smallest nudge to every pixel that the model's own gradient says will hurt it.

FGSM (Goodfellow et al., 2015) takes one step of size epsilon in the direction that raises the loss
fastest when every pixel may move by at most epsilon (an L-infinity budget): the sign of the gradient,

    x_adv = clip(x + epsilon * sign(dL/dx), 0, 255).

PGD (Madry et al., 2018) repeats smaller steps and after each one pulls the image back inside the
epsilon box around x. Epsilon is in pixel units (/255), the scale the models take their input in, so
"epsilon 2" means no pixel moved by more than 2 levels of 255. The label attacked is the true one
when known (accuracy on a test split) or the model's own prediction (a photo with no label).

FGSM's sign does not depend on epsilon, so `accuracy_curve` computes each batch's gradient once and
reuses it for every epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnn_core.classify.inference import traced
from cnn_core.classify.probes import BATCH, forward
from cnn_core.i18n import TranslatableError

ATTACKS = ("fgsm", "pgd")
PGD_STEPS = 5  # a few steps already find most of what many would (Madry et al. use 7-40 on CIFAR-10)
PGD_STEP_SHARE = 2.5  # step = PGD_STEP_SHARE * epsilon / steps: room to move, as in Madry et al.
MAX_EPSILON = 64.0  # a quarter of the pixel range: far past "imperceptible"


class AttackError(TranslatableError, ValueError):
    """An attack setting that cannot be used."""

    section = "errors.adversarial"


def _check(attack: str, epsilon: float) -> None:
    if attack not in ATTACKS:
        raise AttackError("bad_attack", attack=attack, choices=", ".join(ATTACKS))
    if not 0 <= float(epsilon) <= MAX_EPSILON:
        raise AttackError("bad_epsilon", epsilon=epsilon, most=f"{MAX_EPSILON:g}")


def _scores(model, x):
    """The scores z before the final softmax: log p would be -inf (no gradient) once the softmax saturates.

    Models from cnn_core.training.model end in a Dense layer called `predictions`; anything else falls back
    to log p, which is z up to a constant.
    """
    import keras
    import tensorflow as tf

    names = [layer.name for layer in model.layers]
    if "predictions" not in names:
        return tf.math.log(tf.maximum(model(x, training=False), 1e-30))
    dense = model.get_layer("predictions")
    features = traced(model, "features_model", lambda: keras.Model(model.input, dense.input))  # built once per model
    return tf.matmul(features(x, training=False), dense.kernel) + dense.bias


def loss_gradient(model, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gradient of the cross-entropy with respect to the pixels (n, h, w, c), per-image loss (n,))."""
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
    y = tf.convert_to_tensor(np.asarray(labels, dtype=np.int64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = _scores(model, x)
        losses = tf.reduce_logsumexp(scores, axis=1) - tf.gather(scores, y, batch_dims=1)
    return tape.gradient(losses, x).numpy(), losses.numpy()


def fgsm(model, images: np.ndarray, labels: np.ndarray, epsilon: float) -> np.ndarray:
    """x + epsilon * sign(dL/dx), clipped to 0..255 (float32, same shape as `images`)."""
    _check("fgsm", epsilon)
    x = np.asarray(images, dtype=np.float32)
    gradient, _ = loss_gradient(model, x, labels)
    return np.clip(x + float(epsilon) * np.sign(gradient), 0.0, 255.0).astype(np.float32)


def pgd(model, images: np.ndarray, labels: np.ndarray, epsilon: float, steps: int = PGD_STEPS) -> np.ndarray:
    """`steps` signed-gradient steps of PGD_STEP_SHARE * epsilon / steps, each projected back into the epsilon box."""
    _check("pgd", epsilon)
    x = np.asarray(images, dtype=np.float32)
    step = PGD_STEP_SHARE * float(epsilon) / max(int(steps), 1)
    adversarial = x.copy()
    for _ in range(max(int(steps), 1)):
        gradient, _ = loss_gradient(model, adversarial, labels)
        adversarial = adversarial + step * np.sign(gradient)
        adversarial = np.clip(np.clip(adversarial, x - epsilon, x + epsilon), 0.0, 255.0).astype(np.float32)
    return adversarial


def attack(model, images: np.ndarray, labels: np.ndarray, kind: str, epsilon: float,
           steps: int = PGD_STEPS) -> np.ndarray:
    """FGSM or PGD by name."""
    _check(kind, epsilon)
    if kind == "fgsm":
        return fgsm(model, images, labels, epsilon)
    return pgd(model, images, labels, epsilon, steps)


# --- One photo, explained. ---


@dataclass(frozen=True)
class Example:
    """One photo attacked: both images, both predictions, and the numbers of one pixel for the formula."""

    original: np.ndarray  # (h, w, 3) float32 0..255
    adversarial: np.ndarray  # (h, w, 3) float32 0..255
    label: int  # the class attacked (the model's own prediction)
    before: np.ndarray  # probabilities (classes,) of the original
    after: np.ndarray  # probabilities (classes,) of the adversarial image
    loss_before: float
    loss_after: float
    pixel: tuple[int, int, int]  # (row, col, channel) of the pixel with the largest |gradient|
    pixel_gradient: float  # dL/dx at that pixel

    @property
    def perturbation(self) -> np.ndarray:
        """x_adv - x (the change, at most epsilon per pixel)."""
        return self.adversarial - self.original

    def magnified(self) -> np.ndarray:
        """The perturbation as a uint8 picture: 0 is grey 128, the largest change 0 or 255."""
        change = self.perturbation
        peak = float(np.abs(change).max())
        scaled = change / peak if peak > 0 else change
        return np.clip(128 + 127 * scaled, 0, 255).round().astype(np.uint8)


def explain_photo(model, image: np.ndarray, kind: str, epsilon: float, steps: int = PGD_STEPS) -> Example:
    """Attack one photo against the model's own prediction; keep what the page explains."""
    x = np.asarray(image, dtype=np.float32)[None]
    before = forward(model, x)[0]
    label = np.array([int(np.argmax(before))])
    gradient, loss_before = loss_gradient(model, x, label)
    adversarial = attack(model, x, label, kind, epsilon, steps)
    after = forward(model, adversarial)[0]
    _, loss_after = loss_gradient(model, adversarial, label)
    pixel = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(gradient[0]))), gradient[0].shape))
    return Example(x[0], adversarial[0], int(label[0]), before, after, float(loss_before[0]), float(loss_after[0]),
                   pixel, float(gradient[0][pixel]))


# --- A test split against epsilon. ---


def accuracy_curve(model, images: np.ndarray, labels: np.ndarray, epsilons: Sequence[float], kind: str = "fgsm",
                   steps: int = PGD_STEPS) -> list[float]:
    """Accuracy on (images, labels) after the attack at each epsilon (epsilon 0: the clean accuracy)."""
    for epsilon in epsilons:
        _check(kind, epsilon)
    labels = np.asarray(labels, dtype=np.int64)
    correct = np.zeros(len(epsilons))
    for start in range(0, len(images), BATCH):
        x = np.asarray(images[start : start + BATCH], dtype=np.float32)
        y = labels[start : start + BATCH]
        sign = np.sign(loss_gradient(model, x, y)[0]) if kind == "fgsm" and any(epsilons) else None
        for index, epsilon in enumerate(epsilons):
            if epsilon == 0:
                attacked = x
            elif sign is not None:  # FGSM: the same sign for every epsilon
                attacked = np.clip(x + float(epsilon) * sign, 0.0, 255.0)
            else:
                attacked = pgd(model, x, y, epsilon, steps)
            correct[index] += int(np.sum(forward(model, attacked).argmax(axis=1) == y))
    return [float(count / len(labels)) if len(labels) else 0.0 for count in correct]

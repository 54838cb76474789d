"""Levers that are not settings (yet), tried on a preset in one process: does it pay on validation?

A lever earns a setting only after it pays here. Each run builds the preset's model the app's way (whitening
included), trains it for a fixed number of epochs on the preset's training split (the subset's 5,085 images
less 10 % held out), and prints validation accuracy with the preset's test-time flip. The test split is
never read: levers are chosen on validation, the test split is scored once per shipped run.

    none      the preset as it is (the reference: run it in the same session)
    erasing   Keras' RandomErasing after the preset's augmentations (about half the images lose 2-33 % of
              their area to grey)
    cutmix    CutMix on each batch: a box from another image of the batch, labels mixed by its area,
              Beta(1, 1)
    ema       the optimizer keeps an exponential moving average of the weights (momentum 0.999), which
              replaces them at the end
    residual  each block's second convolution (after its activation) is added to the block's first one (a skip
              connection, as in ResNet/airbench96; no extra FLOPs)
    fewer_images
              trains on 8/9 of the training split (per class, seeded): the gap to "none" estimates what refitting
              on training + validation (9/8 of the images) would add, without scoring a model on images it trained on

Every run also prints validation accuracy under the corruption suite (cnn_core.classify.corruptions: noise 4 and 8,
blur 1, JPEG 30, contrast 0.6, test-time flip off, as `robustness` scores them) and their mean: a lever that buys
clean accuracy at a large robustness cost is not adopted. And validation accuracy with airbench's test-time translations (the flip-averaged
probabilities, plus those of the image moved one pixel down-right and up-left, each flip-averaged, at half
weight), the lever that test_time_flip would grow into.

A setting is tried the same way, without a lever: --set '{"weight_decay": 0.05}' changes the preset first. The
levers that paid became settings and are tried so: --set '{"progressive_resizing": true}' (--epochs counts all
three sizes), --set '{"mixup_alpha": 0.2}'.

--precision mixed_bfloat16 (or mixed_float16) trains in that Keras dtype policy and scores the same weights in
float32, as a run does (cnn_core.training.precision): does accuracy hold? Without bfloat16 instructions (or a
GPU) the arithmetic is emulated, slowly, but rounds exactly as the hardware would.

    python bench/bench_levers.py --preset best --epochs 25 --seed 0 --lever erasing [--set JSON] [--precision POLICY]
                                 [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # helpers.paths: where the shared subset is (CIFAR10_SUBSET overrides)

import cnn_core  # noqa: E402,F401  first: it turns TensorFlow's oneDNN kernels on, as in every training process

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnn_core.classify.corruptions import corruption_accuracy  # noqa: E402
from cnn_core.classify.inference import predict_probabilities, traced_forward  # noqa: E402
from cnn_core.datasets.base import hold_out_validation, stratified_holdout  # noqa: E402
from cnn_core.datasets.loading import load_dataset  # noqa: E402
from cnn_core.training import model as training_model  # noqa: E402
from cnn_core.training.config import TrainConfig, preset  # noqa: E402
from cnn_core.training.job import saved_form  # noqa: E402
from cnn_core.training.precision import POLICIES, dtype_policy  # noqa: E402
from cnn_core.training.progressive import ProgressiveResizing  # noqa: E402

from helpers.paths import CIFAR_SUBSET  # noqa: E402

LEVERS = ("none", "erasing", "cutmix", "ema", "residual", "fewer_images")
IMAGE_SIDE = 32


def with_erasing() -> None:
    """Make build_model add RandomErasing after the configured augmentations (images are in [0, 1] there).

    A bench-only patch of the module function build_model calls: a setting would add the layer there.
    """
    configured = training_model.augmentation_layers

    def layers(config: TrainConfig, seed: int | None = None) -> list[keras.layers.Layer]:
        erase = keras.layers.RandomErasing(factor=1.0, fill_value=0.5, value_range=(0, 1), seed=config.seed + 7)
        return configured(config, seed) + [erase]

    training_model.augmentation_layers = layers


def cutmix(images: tf.Tensor, labels: tf.Tensor, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One batch: a random box of each image replaced by the same box of another; labels mixed by area."""
    images = tf.cast(images, tf.float32)
    other = tf.random.shuffle(tf.range(tf.shape(images)[0]), seed=seed)
    a, b = tf.random.gamma([], 1.0, seed=seed), tf.random.gamma([], 1.0, seed=seed + 1)
    share = a / (a + b)  # Beta(1, 1): the share of the image kept
    half = tf.cast(tf.round(IMAGE_SIDE * tf.sqrt(1.0 - share)), tf.int32) // 2
    centre = tf.random.uniform([2], 0, IMAGE_SIDE, tf.int32, seed=seed + 2)
    line = tf.range(IMAGE_SIDE)
    rows = (line >= centre[0] - half) & (line < centre[0] + half)
    columns = (line >= centre[1] - half) & (line < centre[1] + half)
    box = tf.cast(rows[:, None] & columns[None, :], tf.float32)[None, :, :, None]
    area = tf.reduce_mean(box)
    mixed = images * (1.0 - box) + tf.gather(images, other) * box
    return mixed, (1.0 - area) * labels + area * tf.gather(labels, other)


def translated_tta_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """airbench's test-time augmentation: flip-averaged probabilities at half weight, the two one-pixel shifts
    (down-right, up-left; edges reflected), each flip-averaged, a quarter each."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    down_right, up_left = padded[:, :-2, :-2], padded[:, 2:, 2:]
    views = [predict_probabilities(model, view, True) for view in (images, down_right, up_left)]
    return 0.5 * views[0] + 0.25 * views[1] + 0.25 * views[2]


def with_residual() -> None:
    """Make build_model's blocks residual: the later convolutions' output is added to the first convolution's.

    A bench-only patch of the module function build_model calls (it needs batch norm and pooling after the first
    convolution, as the presets have); a setting would add the skip in conv_block itself.
    """
    configured = training_model.conv_block

    def block(x, config: TrainConfig, index: int, filters: int, seeds) -> keras.KerasTensor:
        first = configured(x, TrainConfig.from_dict({**config.to_dict(), "convs_per_block": 1}), index, filters, seeds)
        x = first
        for conv in range(2, config.convs_per_block + 1):
            x = keras.layers.Conv2D(filters, config.kernel_size, padding="same", use_bias=False,
                                    kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                                    name=f"block{index}_conv{conv}")(x)
            x = keras.layers.BatchNormalization(momentum=training_model.BATCH_NORM_MOMENTUM,
                                                name=f"block{index}_bn{conv}")(x)
            x = keras.layers.Activation(config.activation, name=f"block{index}_act{conv}")(x)
        return keras.layers.Add(name=f"block{index}_add")([first, x])

    training_model.conv_block = block


def train_once(config: TrainConfig, lever: str, data: Path, policy: str = "float32") -> dict:
    """Train `config` with `lever` for config.epochs; validation accuracy and seconds."""
    dataset = hold_out_validation(load_dataset(str(data)), config.validation_fraction, config.seed)
    if lever == "fewer_images":
        kept = ~stratified_holdout(dataset.y_train, 1 / 9, config.seed + 1)
        dataset.x_train, dataset.y_train = dataset.x_train[kept], dataset.y_train[kept]
    keras.utils.set_random_seed(config.seed)
    if lever == "erasing":
        with_erasing()
    if lever == "residual":
        with_residual()
    with dtype_policy(policy):
        model = training_model.build_model(config, 10, for_training=True)
    training_model.adapt_whitening(model, dataset.x_train, config)
    train, _ = training_model.make_datasets(dataset, config, 10)
    if lever == "cutmix":
        train = train.map(lambda images, labels: cutmix(images, labels, config.seed))
    steps = -(-len(dataset.y_train) // config.batch_size)
    training_model.compile_model(model, config, steps, config.epochs, steps_per_execution=8)
    if lever == "ema":  # before the first step builds the optimizer's variables
        model.optimizer.use_ema, model.optimizer.ema_momentum = True, 0.999
    start = time.perf_counter()
    callbacks = [ProgressiveResizing(IMAGE_SIDE, 0, lambda: config.epochs)] if config.progressive_resizing else []
    history = model.fit(train.repeat(), steps_per_epoch=steps, epochs=config.epochs, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    model = saved_form(model, config)  # float32, as a run scores and saves it
    predicted = predict_probabilities(model, dataset.x_val, config.test_time_flip).argmax(axis=1)
    translated = translated_tta_probabilities(model, dataset.x_val).argmax(axis=1)
    forward = traced_forward(model)
    corrupted = corruption_accuracy(model, dataset.x_val, dataset.y_val, predict=lambda images: (
        predict_probabilities(model, images, False, forward=forward)))
    return {"fit_seconds": round(seconds, 1), "train_images": len(dataset.y_train),
            "train_accuracy": round(history.history["accuracy"][-1], 4),
            "validation_accuracy": round(float(np.mean(predicted == dataset.y_val)), 4),
            "validation_accuracy_translations": round(float(np.mean(translated == dataset.y_val)), 4),
            "validation_corrupted": {name: round(value, 4) for name, value in corrupted.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="best")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lever", choices=LEVERS, default="none")
    parser.add_argument("--set", metavar="JSON", default="{}", help="settings to change in the preset first: "
                        '\'{"weight_decay": 0.05}\'')
    parser.add_argument("--precision", choices=POLICIES, default="float32", help="Keras dtype policy to train in")
    parser.add_argument("--data", type=Path, default=CIFAR_SUBSET)
    args = parser.parse_args()
    changed = json.loads(args.set)
    config = TrainConfig.from_dict({**preset(args.preset).to_dict(), **changed, "epochs": args.epochs,
                                    "time_budget_seconds": 0.0, "seed": args.seed})
    result = train_once(config, args.lever, args.data, args.precision)
    print(json.dumps({"preset": args.preset, "epochs": args.epochs, "seed": args.seed, "lever": args.lever,
                      "set": changed, "precision": args.precision, **result}), flush=True)


if __name__ == "__main__":
    main()

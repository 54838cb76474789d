"""From a `TrainConfig` to a Keras model: layers, optimizer and schedule, summary table, tf.data input.

The model takes raw pixels (0..255) and does everything else itself: rescaling, augmentation (active
only while training) and the conv blocks. So the same saved file classifies an upload with no
separate preprocessing step, and the input pipeline can stay uint8 (4x less memory than float32).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnn_core.training.config import TrainConfig
from cnn_core.training.layers import whitening_channels
from cnn_core.training.progressive import RESIZE_LAYER_NAME, TrainingResize
from cnn_core.training.schedules import schedule_formula, warmup_steps_for

keras.config.set_image_data_format("channels_last")

# Batch-norm statistics must settle within a few hundred steps on short CPU runs; Keras' default
# momentum of 0.99 averages over ~100 steps of stale statistics, 0.9 over ~10.
BATCH_NORM_MOMENTUM = 0.9
# Whitening: ε added to each patch direction's variance (pixels in 0..1; airbench's value), and the training images
# its statistics come from at most (10,000 images give ~10 M patches: plenty for a 12 x 12 to 48 x 48 covariance).
WHITENING_EPSILON = 5e-4
WHITENING_MAX_IMAGES = 10_000
# Names of weights that AdamW/SGD weight decay leaves alone (biases and batch-norm scale/offset).
NO_DECAY_NAMES = ["bias", "gamma", "beta"]


# --- The model. ---


def augmentation_layers(config: TrainConfig, seed: int | None = None) -> list[keras.layers.Layer]:
    """The configured random augmentations (Keras preprocessing layers, identity at inference)."""
    seed = config.seed if seed is None else seed
    layers: list[keras.layers.Layer] = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"))
    if config.rotation_degrees > 0:
        # RandomRotation's factor is a fraction of a full turn (2*pi), not degrees.
        layers.append(
            keras.layers.RandomRotation(config.rotation_degrees / 360.0, seed=seed + 1, name="random_rotation")
        )
    if config.shift_fraction > 0:
        layers.append(
            keras.layers.RandomTranslation(
                config.shift_fraction, config.shift_fraction, seed=seed + 2, name="random_translation"
            )
        )
    return layers


def build_model(config: TrainConfig, num_classes: int = 10, input_shape=(32, 32, 3),
                for_training: bool = False) -> keras.Model:
    """The Keras model for `config` (not compiled); raises ConfigError for impossible settings.

    `for_training` with progressive resizing adds the training-only `training_resize` layer after the rescaling
    (no weights: the trained weights fit the model built without it, which is the one saved).

    Without batch norm the activation is part of each Conv2D/Dense layer, exactly as in the seed
    tutorial; with batch norm each convolution is `block{b}_conv{c}` (no bias) -> `block{b}_bn{c}`
    -> `block{b}_act{c}`. A whitening layer is block 0: `block0_conv1` (fixed) -> `block0_act1`.
    """
    config.validate(image_size=min(input_shape[0], input_shape[1]))
    seeds = iter(range(config.seed * 1000, config.seed * 1000 + 1000))  # one seed per initializer, in layer order
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    if for_training and config.progressive_resizing:
        x = TrainingResize(input_shape[0], name=RESIZE_LAYER_NAME)(x)
    for layer in augmentation_layers(config):
        x = layer(x)
    if config.whitening_patch:
        x = whitening_layer(x, config)
    for block, filters in enumerate(config.filters, start=1):
        x = conv_block(x, config, block, filters, seeds)
    outputs = classifier_head(x, config, num_classes, seeds)
    return keras.Model(inputs, outputs, name="cnn_studio")


def whitening_layer(x, config: TrainConfig) -> keras.KerasTensor:
    """Block 0: the fixed whitening convolution (zeros until `adapt_whitening` fills it from data) and its activation."""
    patch = config.whitening_patch
    x = keras.layers.Conv2D(whitening_channels(patch), patch, padding="same", trainable=False,
                            kernel_initializer="zeros", name="block0_conv1")(x)
    return keras.layers.Activation(config.activation, name="block0_act1")(x)


def whitening_weights(images: np.ndarray, patch: int, epsilon: float = WHITENING_EPSILON,
                      max_gain: float = 0.0) -> list[np.ndarray]:
    """[kernel (k, k, 3, 6k²), bias] of a convolution that whitens the k x k patches of `images` (uint8 or 0..255).

    The patches' covariance (pixels scaled to 0..1, as the model's Rescaling does) has eigenvectors v_i and
    eigenvalues λ_i; filter i is v_i / sqrt(λ_i + ε) and its bias centres it, so over the training images the
    filters' outputs are uncorrelated with unit variance (ε keeps near-constant directions from amplifying noise).
    `max_gain` > 0 caps each gain 1 / sqrt(λ_i + ε) there: the rarest directions then keep less than unit variance.
    Each filter comes with its negative, so a ReLU after it keeps both signs (airbench's first layer).
    """
    images = np.asarray(images[:WHITENING_MAX_IMAGES])
    size = patch * patch * 3
    total, outer, count = np.zeros(size), np.zeros((size, size)), 0
    for start in range(0, len(images), 200):  # 200 images at a time: <= 65 MB of patches even for 4 x 4 ones
        chunk = images[start : start + 200].astype(np.float64) / 255.0
        windows = np.lib.stride_tricks.sliding_window_view(chunk, (patch, patch), axis=(1, 2))
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size)  # (row, column, channel), a kernel's order
        total, outer, count = total + patches.sum(0), outer + patches.T @ patches, count + len(patches)
    mean = total / count
    values, vectors = np.linalg.eigh(outer / count - np.outer(mean, mean))
    gains = 1.0 / np.sqrt(np.maximum(values, 0.0) + epsilon)
    if max_gain > 0:
        gains = np.minimum(gains, max_gain)
    filters = (vectors * gains).T  # (directions, size)
    filters = np.concatenate([filters, -filters])
    kernel = filters.reshape(-1, patch, patch, 3).transpose(1, 2, 3, 0)
    return [kernel.astype(np.float32), (-filters @ mean).astype(np.float32)]


def adapt_whitening(model: keras.Model, images: np.ndarray, config: TrainConfig) -> None:
    """Fill the whitening layer (if the config has one) from the training images; before training, not when resuming."""
    if config.whitening_patch:
        model.get_layer("block0_conv1").set_weights(
            whitening_weights(images, config.whitening_patch, max_gain=config.whitening_max_gain))


def conv_block(x, config: TrainConfig, block: int, filters: int, seeds) -> keras.KerasTensor:
    """`convs_per_block` convolutions (each with batch norm and activation if set) and the block's pooling."""
    pool_early = config.pool_position == "after_first_conv"
    for conv in range(1, config.convs_per_block + 1):
        x = keras.layers.Conv2D(
            filters,
            config.kernel_size,
            padding=config.padding if conv == 1 else "same",
            activation=None if config.batch_norm else config.activation,
            use_bias=not config.batch_norm,  # batch norm's offset replaces the bias
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
            name=f"block{block}_conv{conv}",
        )(x)
        if conv == 1 and pool_early:
            x = _pool(x, config, block)  # before batch norm: normalising a 4x smaller map costs less
        if config.batch_norm:
            x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"block{block}_bn{conv}")(x)
            x = keras.layers.Activation(config.activation, name=f"block{block}_act{conv}")(x)
    return x if pool_early else _pool(x, config, block)


def _pool(x, config: TrainConfig, block: int) -> keras.KerasTensor:
    if config.pooling == "max":
        return keras.layers.MaxPooling2D(config.pool_size, name=f"block{block}_pool")(x)
    if config.pooling == "avg":
        return keras.layers.AveragePooling2D(config.pool_size, name=f"block{block}_pool")(x)
    return x


def classifier_head(x, config: TrainConfig, num_classes: int, seeds) -> keras.KerasTensor:
    """Flatten or global average, then the dense layers and the softmax output; dropout before each dense layer."""
    if config.head == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    for index, units in enumerate(config.dense_units + [num_classes], start=1):
        if config.dropout_rate > 0:
            x = keras.layers.Dropout(config.dropout_rate, seed=config.seed + index, name=f"dropout{index}")(x)
        if index <= len(config.dense_units):
            x = keras.layers.Dense(units, activation=config.activation,
                                   kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                                   name=f"dense{index}")(x)
    # float32 whatever the dtype policy: a 16-bit softmax would round small probabilities to 0 and the loss with them.
    return keras.layers.Dense(num_classes, activation="softmax",
                              kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                              dtype="float32", name="predictions")(x)


# --- Optimizer, schedule and loss. ---


@keras.saving.register_keras_serializable(package="cnn_studio")
class WarmupDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Keras schedule for `schedule_formula`; registered so saved models reload with safe_mode=True."""

    def __init__(self, kind: str, peak: float, total_steps: int, warmup_steps: int):
        super().__init__()
        self.kind = str(kind)
        self.peak = float(peak)
        # Variables, so that `resize` needs no retrace (float32 counts steps exactly up to 16 million).
        self._total_steps = keras.Variable(1.0, dtype="float32", trainable=False, name="schedule_total_steps")
        self._warmup_steps = keras.Variable(0.0, dtype="float32", trainable=False, name="schedule_warmup_steps")
        self.resize(total_steps, warmup_steps)

    @property
    def total_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self._total_steps))

    @property
    def warmup_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self._warmup_steps))

    def resize(self, total_steps: int, warmup_steps: int) -> None:
        """A new length for the run; the optimizer's steps so far keep counting."""
        self._total_steps.assign(float(max(int(total_steps), 1)))
        self._warmup_steps.assign(float(int(warmup_steps)))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return keras.ops.cast(
            schedule_formula(keras.ops, self.kind, step, self.peak, self._total_steps, self._warmup_steps),
            "float32",
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def learning_rate_schedule(config: TrainConfig, total_steps: int) -> WarmupDecaySchedule:
    """The Keras schedule object for `config` over a run of `total_steps` optimizer updates."""
    warmup = warmup_steps_for(config.schedule, config.warmup_fraction, total_steps)
    return WarmupDecaySchedule(config.schedule, config.learning_rate, total_steps, warmup)


def resize_schedule(schedule: WarmupDecaySchedule, config: TrainConfig, total_steps: int) -> None:
    """Stretch or shrink a compiled model's schedule to `total_steps` updates, keeping its traced training step."""
    schedule.resize(total_steps, warmup_steps_for(config.schedule, config.warmup_fraction, total_steps))


def make_optimizer(config: TrainConfig, schedule: WarmupDecaySchedule) -> keras.optimizers.Optimizer:
    """Adam, AdamW or SGD (Nesterov momentum) with the learning-rate `schedule` and the configured weight decay."""
    weight_decay = config.weight_decay if config.weight_decay > 0 else None
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=schedule, weight_decay=weight_decay)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.SGD(
            learning_rate=schedule, momentum=config.momentum, nesterov=True, weight_decay=weight_decay
        )
    if config.weight_decay > 0:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer


def compile_model(
    model: keras.Model,
    config: TrainConfig,
    steps_per_epoch: int,
    epochs: int | None = None,
    steps_per_execution: int = 1,
    jit_compile: bool | str = "auto",
    total_steps: int | None = None,
) -> WarmupDecaySchedule:
    """Compile with optimizer + schedule over `steps_per_epoch * epochs` steps (or `total_steps`), smoothed crossentropy;
    returns the schedule (`resize_schedule` re-sizes it).

    Labels are one-hot (label smoothing needs them). `jit_compile="auto"` is Keras' default: XLA on
    GPUs, off on CPU-only machines, where it was 2-6x slower.
    """
    total_steps = max(int(total_steps or int(steps_per_epoch) * int(epochs or config.epochs)), 1)
    schedule = learning_rate_schedule(config, total_steps)
    model.compile(
        optimizer=make_optimizer(config, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=max(int(steps_per_execution), 1),
        jit_compile=jit_compile,
    )
    return schedule


# --- Summary table. ---


def _flops(layer: keras.layers.Layer) -> int:
    """2 x multiply-adds of a Conv2D or Dense layer's output (biases, other layers: not counted)."""
    if isinstance(layer, keras.layers.Conv2D):
        kernel_height, kernel_width, channels_in, channels_out = layer.kernel.shape
        _, height, width, _ = layer.output.shape
        return 2 * height * width * channels_out * kernel_height * kernel_width * channels_in
    if isinstance(layer, keras.layers.Dense):
        units_in, units_out = layer.kernel.shape
        return 2 * units_in * units_out
    return 0


def layer_table(config: TrainConfig, num_classes: int = 10, input_shape=(32, 32, 3)) -> list[dict[str, Any]]:
    """One row per layer of the built Keras model: {"layer", "type", "output_shape", "params", "flops"} for one image.

    The pages show cnn_core.training.layers.layer_rows, the same table from the settings alone; this one, asked of
    Keras itself, is what the tests hold it to.

    FLOPs convention: each multiply-add of a Conv2D or Dense output counts as 2 FLOPs (bias adds,
    pooling, normalisation, activations and augmentation are not counted; they are a few percent).
    Params are Keras' own count (batch-norm moving statistics included).
    """
    model = build_model(config, num_classes, input_shape)
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output_shape": tuple(int(size) for size in layer.output.shape[1:]),
                "params": int(layer.count_params()),
                "flops": int(_flops(layer)),
            }
        )
    return rows


# --- Augmentation preview. ---


# --- Input pipeline. ---


def make_datasets(dataset, config: TrainConfig, num_classes: int) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """tf.data pipelines (uint8 images, one-hot float labels): shuffled training, ordered validation (None if empty).

    The pipeline shuffles and batches *indices* and gathers whole batches at once, which costs the host
    far less than slicing, shuffling and batching images one by one.
    """
    train = _batched(dataset.x_train, dataset.y_train, config.batch_size, num_classes, shuffle_seed=config.seed)
    if config.mixup_alpha > 0:
        train = train.map(lambda images, labels: mixup(images, labels, config.mixup_alpha, config.seed))
    if config.blur_sigma > 0 or config.noise_std > 0 or config.jpeg_quality > 0:
        train = train.map(lambda images, labels: (camera_augmentations(images, config), labels))
    if len(dataset.y_val) == 0:
        return train, None
    return train, ordered_batches(dataset.x_val, dataset.y_val, config.batch_size, num_classes)


def mixup(images: tf.Tensor, labels: tf.Tensor, alpha: float, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One training batch blended in pairs: image i becomes λᵢ·xᵢ + (1 − λᵢ)·x_partner(i), its label alike.

    λᵢ ~ Beta(α, α), drawn as G₁ / (G₁ + G₂) from two Gamma(α) draws; the partners are a shuffle of the batch.
    (TensorFlow's Gamma draws stop at the smallest normal float, so even a tiny α never divides 0 by 0.)
    Seeded random ops draw afresh on each pass over the data (each epoch), the same sequence for the same seed.
    The blended batch is float32 pixels (0..255), which the model takes as it takes uint8 ones.
    """
    images = tf.cast(images, tf.float32)
    count = tf.shape(images)[0]
    partner = tf.random.shuffle(tf.range(count), seed=seed + 3)
    first, second = (tf.random.gamma([count], alpha, seed=seed + offset) for offset in (4, 5))
    share = first / (first + second)
    pixel_share = share[:, None, None, None]
    blended = pixel_share * images + (1 - pixel_share) * tf.gather(images, partner)
    return blended, share[:, None] * labels + (1 - share[:, None]) * tf.gather(labels, partner)


def camera_augmentations(images: tf.Tensor, config: TrainConfig) -> tf.Tensor:
    """A training batch through one of what a camera and the web do to a photo: blur, noise or JPEG, each image one of
    those configured (drawn per image, as is its strength). One each, not all in turn: JPEG after noise smooths the
    noise away, and the three together cost more clean accuracy than they buy."""
    kinds = [(augment, strength) for augment, strength in (
        (add_blur, config.blur_sigma), (add_noise, config.noise_std), (jpeg_round_trip, config.jpeg_quality)) if strength > 0]
    if len(kinds) == 1:
        augment, strength = kinds[0]
        return tf.cast(augment(images, strength, config.seed), tf.float32)
    # Each image goes through its own augmentation only: the batch split by the draw, changed, put back in order.
    pick = tf.random.uniform([tf.shape(images)[0]], 0, len(kinds), tf.int32, seed=config.seed + 10)
    parts = tf.dynamic_partition(images, pick, len(kinds))
    places = tf.dynamic_partition(tf.range(tf.shape(images)[0]), pick, len(kinds))
    changed = [tf.cast(augment(part, strength, config.seed), tf.float32) for (augment, strength), part in zip(kinds, parts)]
    return tf.ensure_shape(tf.dynamic_stitch(places, changed), images.shape)


def add_blur(images: tf.Tensor, most: float, seed: int) -> tf.Tensor:
    """One training batch blurred: image i by a Gaussian of standard deviation σᵢ ~ Uniform(0, `most`) pixels."""
    sigma = tf.random.uniform([tf.shape(images)[0]], 0.0, most, seed=seed + 8)
    return gaussian_blur(images, sigma, radius=max(1, math.ceil(3 * most)))


def gaussian_blur(images: tf.Tensor, sigma: tf.Tensor, radius: int) -> tf.Tensor:
    """Image i blurred by a Gaussian of standard deviation `sigma[i]` pixels, cut at `radius` pixels: a 1-D kernel
    along the rows, then the columns, edges mirrored (as scipy.ndimage's "reflect"). Float32 pixels."""
    images = tf.cast(images, tf.float32)
    sigma = tf.cast(sigma, tf.float32)[:, None]
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)[None]
    weights = tf.exp(-(taps**2) / (2 * tf.maximum(sigma, 1e-3) ** 2))  # σ near 0: all weight on the centre tap
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [radius, radius], [0, 0], [0, 0]], mode="SYMMETRIC")
    images = tf.add_n([weights[:, k, None, None, None] * padded[:, k : k + height] for k in range(2 * radius + 1)])
    padded = tf.pad(images, [[0, 0], [0, 0], [radius, radius], [0, 0]], mode="SYMMETRIC")
    return tf.add_n([weights[:, k, None, None, None] * padded[:, :, k : k + width] for k in range(2 * radius + 1)])


def jpeg_round_trip(images: tf.Tensor, lowest: int, seed: int) -> tf.Tensor:
    """One training batch saved as JPEG and decoded: image i at a quality drawn uniformly from `lowest`..100."""
    pixels = tf.cast(tf.clip_by_value(tf.round(tf.cast(images, tf.float32)), 0.0, 255.0), tf.uint8)
    quality = tf.random.uniform([tf.shape(pixels)[0]], lowest, 101, tf.int32, seed=seed + 9)
    # An empty batch (a share of a small last batch) is returned as it is: map_fn cannot stack zero images of a
    # shape it only learns from the decoder.
    return tf.cond(tf.shape(pixels)[0] > 0, lambda: tf.reshape(tf.map_fn(
        lambda pair: tf.image.adjust_jpeg_quality(pair[0], pair[1]), (pixels, quality), fn_output_signature=tf.uint8),
        tf.shape(pixels)), lambda: pixels)


def add_noise(images: tf.Tensor, most: float, seed: int) -> tf.Tensor:
    """One training batch with Gaussian noise: image i gets standard deviation σᵢ ~ Uniform(0, `most`) pixel levels.

    Float32 pixels clipped to 0..255, as a camera's would be; drawn afresh on each pass, the same for the same seed.
    """
    images = tf.cast(images, tf.float32)
    spread = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], 0.0, most, seed=seed + 6)
    return tf.clip_by_value(images + spread * tf.random.normal(tf.shape(images), seed=seed + 7), 0.0, 255.0)


def ordered_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, num_classes: int) -> tf.data.Dataset:
    """A split in its own order, batched, for evaluation passes."""
    return _batched(images, labels, batch_size, num_classes, shuffle_seed=None)


def _batched(images: np.ndarray, labels: np.ndarray, batch_size: int, num_classes: int, shuffle_seed: int | None):
    images = tf.constant(np.asarray(images, dtype=np.uint8))
    one_hot = tf.constant(np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)])
    indices = tf.data.Dataset.range(int(images.shape[0]))
    if shuffle_seed is not None:
        indices = indices.shuffle(int(images.shape[0]), seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda index: (tf.gather(images, index), tf.gather(one_hot, index)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    # No autotuner thread: with it, `fit` took ~10 s to let go of its endless training pass in 4 of 7 budgeted
    # runs here (TensorFlow 2.21), after the last epoch; without it 0 of 7, at the same ~530 images/s.
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


# --- Prediction. ---

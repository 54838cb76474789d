"""cnn_core.training.model: the seed model against a hand-built tutorial model, schedules, tables, pipeline."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from cnn_core.classify.inference import predict_probabilities
from cnn_core.datasets.base import Dataset
from cnn_core.datasets.loading import load_dataset
from cnn_core.training.config import ConfigError, TrainConfig, preset
from cnn_core.training.model import (
    adapt_whitening,
    build_model,
    compile_model,
    layer_table,
    make_datasets,
    whitening_weights,
)
from cnn_core.training.schedules import learning_rate_at

from helpers.mixup import marked_images, read_blends

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)


def tutorial_model() -> keras.Model:
    """The seed tutorial's CNN written out by hand, as the reference."""
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


# --- Architecture. ---


def test_seed_preset_is_the_tutorial_model():
    model = build_model(preset("seed"))
    reference = tutorial_model()
    assert [layer.name for layer in model.layers[1:]] == [
        "rescaling", "block1_conv1", "block1_pool", "block2_conv1", "block2_pool", "flatten", "predictions",
    ]
    assert [type(layer) for layer in model.layers[1:]] == [type(layer) for layer in reference.layers]
    assert [layer.count_params() for layer in model.layers[1:]] == [0, 896, 0, 18_496, 0, 0, 23_050]
    # By hand: 3*3*3*32+32 = 896; 3*3*32*64+64 = 18,496; (6*6*64)*10+10 = 23,050.
    assert model.count_params() == 896 + 18_496 + 23_050 == reference.count_params()
    assert [tuple(layer.output.shape) for layer in model.layers[1:]] == [
        tuple(layer.output.shape) for layer in reference.layers
    ]
    assert model.get_layer("flatten").output.shape[-1] == 2304
    assert model.get_layer("block1_conv1").get_config()["activation"] == "relu"
    assert model.get_layer("predictions").get_config()["activation"] == "softmax"
    assert model.get_layer("block1_conv1").get_config()["padding"] == "valid"
    # Same weights -> same outputs as the hand-written model on raw pixels.
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(model(IMAGES).numpy(), reference(IMAGES).numpy(), rtol=1e-5, atol=1e-6)


def test_layer_names_with_batch_norm_dense_and_dropout():
    config = TrainConfig(filters=[8, 16], convs_per_block=2, padding="same", batch_norm=True,
                         pooling="avg", head="global_avg", dense_units=[12], dropout_rate=0.3)
    names = [layer.name for layer in build_model(config, num_classes=5).layers]
    assert names[2:8] == ["block1_conv1", "block1_bn1", "block1_act1", "block1_conv2", "block1_bn2", "block1_act2"]
    assert names[-6:] == ["block2_pool", "global_pool", "dropout1", "dense1", "dropout2", "predictions"]
    assert build_model(config, num_classes=5).output.shape[-1] == 5


@pytest.mark.parametrize(
    "settings",
    [
        {"filters": [32] * 5},  # 32 -> 15 -> 6 -> 2 -> ... no room for a 5th valid 3x3 conv
        {"filters": [8, 8, 8], "kernel_size": 11},
        {"filters": [8] * 6, "padding": "same"},  # 32 / 2**5 = 1 is too small for the 6th pooling
        {"optimizer": "rmsprop"},
        {"filters": []},
    ],
)
def test_impossible_configs_raise_config_error(settings):
    config = TrainConfig(**settings)
    with pytest.raises(ConfigError):
        build_model(config)
    with pytest.raises(ConfigError):
        layer_table(config)



def test_pool_after_first_conv_order_and_shapes():
    config = TrainConfig(filters=[8, 16], convs_per_block=2, padding="same", batch_norm=True,
                         pool_position="after_first_conv", head="global_avg")
    model = build_model(config)
    names = [layer.name for layer in model.layers]
    # ResNet-9/airbench order: the block's second convolution already runs on the pooled map.
    assert names[2:9] == ["block1_conv1", "block1_pool", "block1_bn1", "block1_act1",
                          "block1_conv2", "block1_bn2", "block1_act2"]
    assert tuple(model.get_layer("block1_conv2").output.shape[1:]) == (16, 16, 8)
    assert tuple(model.get_layer("block2_act2").output.shape[1:]) == (8, 8, 16)
    vgg_order = TrainConfig.from_dict({**config.to_dict(), "pool_position": "end"})
    assert build_model(vgg_order).count_params() == model.count_params()  # same weights, less work
    flops = {row["layer"]: row["flops"] for row in layer_table(config)}
    flops_end = {row["layer"]: row["flops"] for row in layer_table(vgg_order)}
    assert flops["block1_conv2"] * 4 == flops_end["block1_conv2"]
    with pytest.raises(ConfigError):
        TrainConfig(pool_position="middle").validate()


@pytest.mark.parametrize("patch", [2, 3])
def test_whitening_makes_the_patches_of_real_images_uncorrelated_with_unit_variance(cifar_subset, patch):
    images = load_dataset(cifar_subset).x_train[:400]
    kernel, bias = whitening_weights(images, patch, epsilon=1e-12)
    assert kernel.shape == (patch, patch, 3, 6 * patch**2) and bias.shape == (6 * patch**2,)
    # TensorFlow's own convolution over every valid patch (not the NumPy patches the weights came from): if the
    # kernel's (row, column, channel) order did not match, the outputs would stay correlated.
    outputs = keras.ops.convert_to_numpy(keras.ops.conv(images.astype(np.float32) / 255, kernel)) + bias
    first_half = outputs[..., : 3 * patch**2].reshape(-1, 3 * patch**2).astype(np.float64)
    assert np.abs(first_half.mean(0)).max() < 1e-3
    np.testing.assert_allclose(np.cov(first_half, rowvar=False), np.eye(3 * patch**2), atol=2e-3)
    np.testing.assert_allclose(outputs[..., 3 * patch**2 :], -outputs[..., : 3 * patch**2], atol=1e-4)


def test_a_whitening_gain_cap_scales_only_the_directions_above_it(cifar_subset):
    images = load_dataset(cifar_subset).x_train[:400]
    plain, bias = whitening_weights(images, 2, epsilon=1e-12)
    capped, capped_bias = whitening_weights(images, 2, epsilon=1e-12, max_gain=10.0)
    # Each filter is a unit eigenvector times its gain, so a filter's length is its gain.
    gains, capped_gains = (np.linalg.norm(kernel.reshape(-1, 24), axis=0) for kernel in (plain, capped))
    assert gains.max() > 30 and (gains < 10).sum() >= 4  # the subset's rarest directions are amplified > 30x
    np.testing.assert_allclose(capped_gains, np.minimum(gains, 10.0), rtol=1e-5)
    # Below the cap the filters are untouched; above it each is the same direction, shorter.
    kept = gains < 10
    np.testing.assert_array_equal(capped.reshape(-1, 24)[:, kept], plain.reshape(-1, 24)[:, kept])
    np.testing.assert_allclose(capped.reshape(-1, 24) * gains, plain.reshape(-1, 24) * capped_gains, atol=1e-4)
    # On the images, capped outputs are still uncorrelated and centred, with variance min(1, (10 / gain)²)... x gain²
    outputs = keras.ops.convert_to_numpy(keras.ops.conv(images.astype(np.float32) / 255, capped)) + capped_bias
    first_half = outputs[..., :12].reshape(-1, 12).astype(np.float64)
    expected = np.minimum(1.0, (capped_gains[:12] / gains[:12]) ** 2)
    np.testing.assert_allclose(np.cov(first_half, rowvar=False), np.diag(expected), atol=2e-3)
    config = TrainConfig(filters=[8], whitening_patch=2, whitening_max_gain=10.0, padding="same")
    model = build_model(config)
    adapt_whitening(model, images, config)
    assert np.linalg.norm(model.get_layer("block0_conv1").get_weights()[0].reshape(-1, 24), axis=0).max() <= 10 + 1e-4


def test_the_whitening_layer_is_block_zero_filled_from_data_and_never_trained(cifar_subset):
    images = load_dataset(cifar_subset).x_train[:300]
    config = TrainConfig(filters=[8], whitening_patch=2, batch_norm=True, head="global_avg", padding="same")
    model = build_model(config)
    assert [layer.name for layer in model.layers][2:5] == ["block0_conv1", "block0_act1", "block1_conv1"]
    assert tuple(model.get_layer("block1_conv1").kernel.shape) == (3, 3, 24, 8)
    assert not np.any(model.get_layer("block0_conv1").get_weights()[0])  # zeros until adapted
    adapt_whitening(model, images, config)
    expected = whitening_weights(images, 2)
    for weight, wanted in zip(model.get_layer("block0_conv1").get_weights(), expected):
        np.testing.assert_array_equal(weight, wanted)
    assert all("block0" not in weight.path for weight in model.trainable_weights)
    compile_model(model, config, steps_per_epoch=1, epochs=1)
    model.train_on_batch(images[:32], keras.utils.to_categorical(np.arange(32) % 10, 10))
    np.testing.assert_array_equal(model.get_layer("block0_conv1").get_weights()[0], expected[0])


@pytest.mark.parametrize("name", ["seed", "quick", "default", "best"])
def test_presets_build_train_a_step_and_round_trip(name):
    config = preset(name)
    config.validate()
    assert TrainConfig.from_dict(config.to_dict()) == config
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=2, epochs=1)
    labels = keras.utils.to_categorical(np.arange(6) % 10, 10)
    logs = model.train_on_batch(IMAGES, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert model.output.shape[-1] == 10


def test_quick_default_and_best_are_the_tuned_recipes():
    # The recipe issues' goals, stated as each preset's time budget (bench/bench_recipe.py measures them).
    quick, default, best = preset("quick"), preset("default"), preset("best")
    assert 0 < quick.time_budget_seconds <= 30 and 0 < default.time_budget_seconds <= 180
    assert 0 < best.time_budget_seconds <= 900
    for config in (quick, default, best):
        assert config.batch_norm and config.flip and config.test_time_flip
        assert config.pool_position == "after_first_conv" and config.head == "global_avg"
        assert config.schedule == "one_cycle" and config.label_smoothing > 0 and config.whitening_patch == 2
    # Each longer preset is the bigger network: more parameters and more work per image.
    for smaller, bigger in ((quick, default), (default, best)):
        assert build_model(bigger).count_params() > build_model(smaller).count_params()
        assert sum(row["flops"] for row in layer_table(bigger)) > sum(row["flops"] for row in layer_table(smaller))


# --- Summary table. ---


def test_layer_table_params_and_flops():
    rows = layer_table(preset("seed"))
    by_name = {row["layer"]: row for row in rows}
    # 30x30 outputs x 32 filters, each 3*3*3 multiply-adds, 2 FLOPs per multiply-add.
    assert by_name["block1_conv1"]["flops"] == 30 * 30 * 32 * 3 * 3 * 3 * 2 == 1_555_200
    assert by_name["block2_conv1"]["flops"] == 13 * 13 * 64 * 3 * 3 * 32 * 2
    assert by_name["predictions"]["flops"] == 2304 * 10 * 2
    assert by_name["block2_pool"]["output_shape"] == (6, 6, 64)
    for name in ("default", "quick", "best"):
        config = preset(name)
        table = layer_table(config)
        assert sum(row["params"] for row in table) == build_model(config).count_params()


# --- Learning-rate schedules. ---


def optimizer_rates(config: TrainConfig, steps: list[int], steps_per_epoch: int, epochs: int) -> list[float]:
    """Learning rates as Keras' optimizer evaluates them at the given iteration counts."""
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=steps_per_epoch, epochs=epochs)
    rates = []
    for step in steps:
        model.optimizer.iterations.assign(step)
        rates.append(float(model.optimizer.learning_rate))
    return rates


@pytest.mark.parametrize("schedule", ["constant", "cosine", "one_cycle", "linear"])
def test_learning_rate_at_matches_the_keras_schedule(schedule):
    config = TrainConfig(schedule=schedule, learning_rate=0.01, warmup_fraction=0.1)
    steps = [0, 1, 5, 9, 10, 11, 50, 99, 100, 150]
    expected = [learning_rate_at(config, step, 100) for step in steps]
    np.testing.assert_allclose(optimizer_rates(config, steps, 10, 10), expected, rtol=1e-5, atol=1e-9)


def test_schedule_shapes_by_hand():
    peak = 0.01
    cosine = TrainConfig(schedule="cosine", learning_rate=peak, warmup_fraction=0.2)
    assert learning_rate_at(cosine, 0, 100) == 0.0
    assert learning_rate_at(cosine, 10, 100) == pytest.approx(peak / 2)  # half-way up the warm-up
    assert learning_rate_at(cosine, 20, 100) == pytest.approx(peak)
    assert learning_rate_at(cosine, 60, 100) == pytest.approx(peak / 2)  # half-way down the cosine
    assert learning_rate_at(cosine, 40, 100) == pytest.approx(peak * 0.5 * (1 + math.cos(math.pi / 4)))
    assert learning_rate_at(cosine, 100, 100) == pytest.approx(0.0)
    linear = TrainConfig(schedule="linear", learning_rate=peak)
    assert learning_rate_at(linear, 0, 100) == pytest.approx(peak)
    assert learning_rate_at(linear, 75, 100) == pytest.approx(peak / 4)
    one_cycle = TrainConfig(schedule="one_cycle", learning_rate=peak)  # default 30 % warm-up from peak/10
    assert learning_rate_at(one_cycle, 0, 100) == pytest.approx(peak / 10)
    assert learning_rate_at(one_cycle, 30, 100) == pytest.approx(peak)
    assert learning_rate_at(one_cycle, 65, 100) == pytest.approx(peak / 2)
    assert learning_rate_at(TrainConfig(learning_rate=peak, warmup_fraction=0.3), 0, 100) == peak  # constant


def test_optimizers_and_saved_schedule_reload_safely(tmp_path):
    sgd = TrainConfig(optimizer="sgd", momentum=0.8, weight_decay=1e-4, schedule="cosine", warmup_fraction=0.1)
    model = build_model(sgd)
    compile_model(model, sgd, steps_per_epoch=7, epochs=3)
    assert model.optimizer.nesterov and model.optimizer.momentum == pytest.approx(0.8)
    assert model.optimizer.weight_decay == pytest.approx(1e-4)
    model = build_model(sgd)
    compile_model(model, sgd, steps_per_epoch=7)  # epochs=None: the config's 10 epochs, 70 steps
    for step, expected in [(7, 1e-3), (70, 0.0), (7 + 63 // 2, learning_rate_at(sgd, 38, 70))]:
        model.optimizer.iterations.assign(step)
        assert float(model.optimizer.learning_rate) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    adamw = TrainConfig(optimizer="adamw", weight_decay=5e-4, schedule="one_cycle")
    model = build_model(adamw)
    compile_model(model, adamw, steps_per_epoch=10, epochs=2)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(5e-4)
    model.optimizer.build(model.trainable_variables)  # as after training: optimizer state is saved too
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    for step in (0, 6, 13, 19):
        reloaded.optimizer.iterations.assign(step)
        assert float(reloaded.optimizer.learning_rate) == pytest.approx(learning_rate_at(adamw, step, 20), rel=1e-5)


def test_label_smoothing_loss_matches_numpy():
    config = TrainConfig(label_smoothing=0.2)
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=1)
    labels = np.eye(10, dtype=np.float32)[[0, 3, 9, 1, 2, 5]]
    probabilities = model(IMAGES, training=False).numpy().astype(np.float64)
    smoothed = labels * 0.8 + 0.2 / 10
    expected = -np.mean(np.sum(smoothed * np.log(probabilities), axis=1))
    assert model.evaluate(IMAGES, labels, verbose=0, return_dict=True)["loss"] == pytest.approx(expected, rel=1e-4)


# --- Augmentation. ---


def test_augmentation_is_active_only_in_training():
    config = TrainConfig(flip=True, rotation_degrees=15, shift_fraction=0.1)
    model = build_model(config)
    assert [layer.name for layer in model.layers[2:5]] == ["random_flip", "random_rotation", "random_translation"]
    assert model.get_layer("random_rotation").get_config()["factor"][1] * 360 == pytest.approx(15)
    augmented = keras.Model(model.input, model.get_layer("random_translation").output)
    x = IMAGES.astype(np.float32)
    np.testing.assert_allclose(augmented(x, training=False).numpy(), x / 255, rtol=1e-6)
    np.testing.assert_array_equal(model(x, training=False).numpy(), model(x, training=False).numpy())
    assert not np.allclose(augmented(x, training=True).numpy(), x / 255)
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=False).numpy())


# --- Prediction. ---


def test_predict_probabilities_with_and_without_flip():
    model = build_model(TrainConfig(filters=[4], batch_norm=True))
    x = IMAGES.astype(np.float32)
    plain = model(x, training=False).numpy()
    mirror = model(x[:, :, ::-1], training=False).numpy()
    np.testing.assert_allclose(predict_probabilities(model, IMAGES, False, batch_size=4), plain, rtol=1e-5, atol=1e-7)
    with_flip = predict_probabilities(model, IMAGES, True, batch_size=4)
    np.testing.assert_allclose(with_flip, (plain + mirror) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(with_flip.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(plain, mirror)


# --- Input pipeline and a real fit. ---


def small_dataset(cifar_subset, train: int, test: int) -> Dataset:
    data = load_dataset(cifar_subset)
    return Dataset(data.x_train[:train], data.y_train[:train], data.x_test[:test], data.y_test[:test],
                   data.class_names, data.about)


def test_make_datasets_shuffles_batches_and_one_hots(cifar_subset):
    data = small_dataset(cifar_subset, 100, 30)
    data.x_val, data.y_val = data.x_test, data.y_test  # the ordered pipeline is the validation split's
    train, test = make_datasets(data, TrainConfig(batch_size=32, seed=1), num_classes=10)
    assert int(train.cardinality()) == 4 and int(test.cardinality()) == 1
    epochs = []
    for _ in range(2):
        images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in train])
        assert images[0].dtype == np.uint8 and images[0].shape == (32, 32, 32, 3) and labels[0].shape == (32, 10)
        images, labels = np.concatenate(images), np.concatenate(labels)
        # Each image exactly once per epoch, with its own label.
        order = [int(np.flatnonzero((data.x_train == image).all(axis=(1, 2, 3)))[0]) for image in images]
        assert sorted(order) == list(range(100))
        np.testing.assert_array_equal(labels.argmax(axis=1), data.y_train[order])
        np.testing.assert_array_equal(labels.sum(axis=1), 1.0)
        epochs.append(order)
    assert epochs[0] != epochs[1] and epochs[0] != list(range(100))  # reshuffled every epoch
    assert make_datasets(small_dataset(cifar_subset, 100, 30), TrainConfig(), 10)[1] is None  # no validation split
    test_images, test_labels = next(iter(test))
    np.testing.assert_array_equal(test_images.numpy(), data.x_test)
    np.testing.assert_array_equal(test_labels.numpy().argmax(axis=1), data.y_test)


def mixup_draws(alpha: float, epochs: int, seed: int = 0) -> tuple[list[list[float]], list[set]]:
    """Each epoch's shares λ (read back from the blended pixels), checked image against label on the way."""
    labels = np.arange(96) % 10
    data = Dataset(marked_images(96), labels, marked_images(1), labels[:1], [str(k) for k in range(10)], "marked")
    keras.utils.set_random_seed(seed)
    train, _ = make_datasets(data, TrainConfig(batch_size=32, seed=seed, mixup_alpha=alpha), num_classes=10)
    shares, pairs = [], []
    for _ in range(epochs):
        blends = []
        for images, soft_labels in train:
            assert images.dtype == np.float32
            blends += read_blends(images.numpy(), soft_labels.numpy(), np.eye(10)[labels])
        assert len(blends) == 96
        shares.append([share for _, share in blends if share is not None])  # None: blended with itself
        pairs.append({marked for marked, _ in blends})
    return shares, pairs


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_blends_images_and_labels_by_a_beta_share(alpha):
    from scipy import stats

    shares, pairs = mixup_draws(alpha, epochs=4)
    assert pairs[0] != pairs[1]  # new partners each epoch
    # λ of the lower-numbered image of each pair: Beta(α, α) is symmetric, so this is a Beta(α, α) sample too.
    pooled = np.concatenate(shares)
    assert len(pooled) > 300
    other = 1.0 if alpha == 0.2 else 0.2
    assert stats.kstest(pooled, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert stats.kstest(pooled, stats.beta(other, other).cdf).pvalue < 1e-3  # the test tells the two apart


def test_mixup_with_a_tiny_alpha_still_blends_whole_images():
    mixup_draws(0.01, epochs=2)  # a tiny α: Gamma draws of ~1e-38, never 0 / 0; each image still whole


def test_mixup_is_reproducible_from_the_seed():
    assert mixup_draws(0.2, epochs=1, seed=3)[0] == mixup_draws(0.2, epochs=1, seed=3)[0]
    assert mixup_draws(0.2, epochs=1, seed=3)[0] != mixup_draws(0.2, epochs=1, seed=4)[0]


def noise_spreads(noise_std: float, seed: int, epochs: int = 1) -> list[np.ndarray]:
    """Each epoch's per-image standard deviation of the noise added to mid-grey images (their labels checked), from
    one endless pass as training reads it."""
    labels = np.arange(200) % 10
    grey = np.full((200, 32, 32, 3), 128, dtype=np.uint8)
    data = Dataset(grey, labels, grey[:1], labels[:1], [str(k) for k in range(10)], "grey")
    train, _ = make_datasets(data, TrainConfig(batch_size=50, seed=seed, noise_std=noise_std), num_classes=10)
    spreads, endless = [], iter(train.repeat())
    for _ in range(epochs):
        batches = [(images.numpy(), soft_labels.numpy()) for images, soft_labels in (next(endless) for _ in range(4))]
        assert all(images.dtype == np.float32 and images.min() >= 0 and images.max() <= 255 for images, _ in batches)
        assert sorted(np.concatenate([one_hot.argmax(1) for _, one_hot in batches])) == sorted(labels)
        noise = np.concatenate([images for images, _ in batches]) - 128.0
        assert abs(noise.mean()) < 0.1  # centred
        spreads.append(noise.reshape(200, -1).std(axis=1))
    return spreads


def test_noise_augmentation_draws_each_images_spread_uniformly_up_to_the_setting():
    from scipy import stats

    (spreads,) = noise_spreads(16.0, seed=0)
    assert spreads.max() <= 16.0 * 1.05 and spreads.min() < 2.0  # 3,072 values per image: its std is within ~3 %
    assert stats.kstest(spreads, stats.uniform(0, 16).cdf).pvalue > 1e-3
    assert stats.kstest(spreads, stats.uniform(0, 8).cdf).pvalue < 1e-3  # the test tells a smaller range apart
    first, second = noise_spreads(16.0, seed=0, epochs=2)
    assert not np.allclose(first, second)  # drawn afresh each epoch
    np.testing.assert_array_equal(noise_spreads(16.0, seed=0)[0], first)  # the same again from the same seed
    assert not np.allclose(noise_spreads(16.0, seed=1)[0], first)


def test_gaussian_blur_is_scipys_with_mirrored_edges(cifar_subset):
    from scipy import ndimage

    from cnn_core.training.model import gaussian_blur

    images = load_dataset(cifar_subset).x_train[:6]
    sigmas = np.array([0.3, 0.5, 1.0, 1.5, 2.0, 1e-6], dtype=np.float32)
    blurred = gaussian_blur(images, sigmas, radius=6).numpy()
    for image, sigma, result in zip(images, sigmas, blurred):
        expected = ndimage.gaussian_filter(image.astype(np.float64), sigma=(sigma, sigma, 0), mode="reflect",
                                           truncate=6 / sigma)
        np.testing.assert_allclose(result, expected, atol=1e-3)
    np.testing.assert_allclose(blurred[-1], images[-1], atol=1e-4)  # σ ~ 0: the image itself


def test_blur_augmentation_draws_each_images_sigma_up_to_the_setting(cifar_subset):
    from scipy import ndimage

    data = small_dataset(cifar_subset, 64, 8)
    train, _ = make_datasets(data, TrainConfig(batch_size=64, seed=0, blur_sigma=1.5), num_classes=10)
    images, _ = next(iter(train))
    # Each blurred image is closest to its own original (the batch is shuffled); the σ that reproduces it best from
    # there, on a grid reaching beyond the setting, is the one it was drawn.
    grid = np.linspace(0.05, 2.5, 50)
    found = []
    for blurred in images.numpy()[:16]:
        original = data.x_train[np.argmin(np.abs(data.x_train.astype(float) - blurred).mean(axis=(1, 2, 3)))]
        errors = [np.abs(ndimage.gaussian_filter(original.astype(np.float64), (s, s, 0), mode="reflect", truncate=5 / s)
                         - blurred).mean() for s in grid]
        found.append(grid[int(np.argmin(errors))])
    assert max(found) <= 1.55 and min(found) < 0.8 and np.std(found) > 0.2  # each image its own σ, none beyond 1.5


def test_jpeg_augmentation_is_close_to_pillows_round_trip_at_the_drawn_quality(cifar_subset):
    import io

    from PIL import Image

    from cnn_core.training.model import jpeg_round_trip

    images = load_dataset(cifar_subset).x_train[:20]

    def pillow(image: np.ndarray, quality: int) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        return np.array(Image.open(buffer)).astype(int)

    compressed = jpeg_round_trip(images, 30, seed=0).numpy().astype(int)  # qualities 30..100
    assert compressed.dtype == int and np.abs(compressed - images).mean() > 2  # it did compress
    qualities, gaps = [], []
    for image, result in zip(images, compressed):  # TensorFlow's libjpeg and Pillow's differ by ~1 level on average
        best = min(range(30, 101), key=lambda quality: np.abs(pillow(image, quality) - result).mean())
        qualities.append(best)
        gaps.append(np.abs(pillow(image, best) - result).mean())
    assert np.mean(gaps) < 1.6 and max(gaps) < 3
    assert min(qualities) < 50 and max(qualities) > 70  # each image its own quality
    strong = jpeg_round_trip(images, 99, seed=0).numpy().astype(int)
    assert np.abs(strong - images).mean() < np.abs(compressed - images).mean()  # quality 99..100 changes less


def test_each_image_gets_one_of_the_camera_augmentations():
    # Mid-grey images: blur and JPEG leave a flat grey as it is, noise does not. With noise and blur both set, about
    # half the images are noisy (spreads uniform up to the setting) and the rest exactly grey: never both.
    from scipy import stats

    labels = np.arange(400) % 10
    grey = np.full((400, 32, 32, 3), 128, dtype=np.uint8)
    data = Dataset(grey, labels, grey[:1], labels[:1], [str(k) for k in range(10)], "grey")
    config = TrainConfig(batch_size=100, seed=0, noise_std=16.0, blur_sigma=1.0, jpeg_quality=30)
    train, _ = make_datasets(data, config, num_classes=10)
    images = np.concatenate([batch.numpy() for batch, _ in train.take(4)])
    spreads = (images - 128.0).reshape(400, -1).std(axis=1)
    untouched = spreads < 1e-3
    assert 0.55 < untouched.mean() < 0.78  # blur or JPEG: two in three images
    assert stats.kstest(spreads[~untouched], stats.uniform(0, 16).cdf).pvalue > 1e-3  # noise, with its own spread


def test_camera_augmentations_take_batches_too_small_to_give_each_kind_an_image(cifar_subset):
    # 5 training images in batches of 2, then 1: some kinds get no image of a batch (an empty share), in the graph
    # tf.data traces, as a run's last, smaller batch does.
    data = small_dataset(cifar_subset, 5, 1)
    config = TrainConfig(batch_size=2, seed=0, noise_std=16.0, blur_sigma=1.0, jpeg_quality=30)
    train, _ = make_datasets(data, config, num_classes=10)
    batches = [images.numpy() for images, _ in train.repeat(20)]
    assert [len(images) for images in batches[:3]] == [2, 2, 1] and len(batches) == 60
    assert all(images.shape[1:] == (32, 32, 3) and images.dtype == np.float32 for images in batches)


def test_without_noise_augmentation_training_batches_stay_uint8_pixels():
    labels = np.arange(20) % 10
    data = Dataset(IMAGES[np.arange(20) % 6], labels, IMAGES[:1], labels[:1], [str(k) for k in range(10)], "x")
    images, _ = next(iter(make_datasets(data, TrainConfig(batch_size=20), num_classes=10)[0]))
    assert images.dtype == np.uint8


def test_one_epoch_fit_reduces_the_loss(cifar_subset):
    data = small_dataset(cifar_subset, 256, 64)
    config = preset("seed")
    config.batch_size = 32
    model = build_model(config)
    train, _ = make_datasets(data, config, num_classes=10)
    compile_model(model, config, steps_per_epoch=int(train.cardinality()), epochs=1, steps_per_execution=4)
    before = model.evaluate(train, verbose=0, return_dict=True)["loss"]
    history = model.fit(train, epochs=1, verbose=0, shuffle=False)
    after = model.evaluate(train, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(history.history["loss"][0])
    assert after < before - 0.02


def test_weight_decay_shrinks_kernels_but_not_biases():
    config = TrainConfig(filters=[4], optimizer="adamw", learning_rate=0.1, weight_decay=0.5)
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=1)
    conv = model.get_layer("block1_conv1")
    conv.bias.assign(np.ones(4, np.float32))
    kernel = conv.kernel.numpy()
    zeros = [np.zeros(variable.shape, np.float32) for variable in model.trainable_variables]
    model.optimizer.apply_gradients(zip(zeros, model.trainable_variables))  # only the decay moves weights
    np.testing.assert_allclose(conv.kernel.numpy(), kernel * (1 - 0.1 * 0.5), rtol=1e-5)
    np.testing.assert_array_equal(conv.bias.numpy(), np.ones(4))

"""cnn_core.training.devices: the default strategy on this CPU, a real mirrored fit over two logical devices, and the
CPU kernels (oneDNN) that every process of ours trains with."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from cnn_core.training import devices

from helpers.paths import PROJECT_ROOT
from helpers.processes import child_env


def test_without_gpus_training_uses_the_default_strategy():
    if tf.config.list_logical_devices("GPU"):
        return  # a GPU machine: covered by the mirrored test below and bench/bench_recipe.py
    strategy = devices.training_strategy()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert devices.describe_devices().startswith("CPU")


def test_a_model_trains_mirrored_over_two_devices():
    # Two logical CPU devices stand in for two GPUs; the split has to happen before TensorFlow starts,
    # hence a fresh process.
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from cnn_core.training import devices
        from cnn_core.training.config import TrainConfig
        from cnn_core.training.model import build_model, compile_model
        strategy = devices.training_strategy("CPU")
        assert strategy.num_replicas_in_sync == 2, strategy
        config = TrainConfig(filters=[4], batch_size=8, epochs=1)
        with strategy.scope():
            model = build_model(config)
            compile_model(model, config, steps_per_epoch=2, epochs=1)
        images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype("uint8")
        labels = keras.utils.to_categorical(np.arange(16) % 10, 10)
        history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
        loss = history.history["loss"][0]
        assert np.isfinite(loss), loss
        variable = model.get_layer("block1_conv1").kernel.value  # the TensorFlow variable under Keras' own
        assert type(variable).__name__ == "MirroredVariable", type(variable)
        print("replicas", strategy.num_replicas_in_sync, "loss", loss)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout


ONEDNN_REPORTED = ("import cnn_core.training.devices  # what a training process imports first, TensorFlow through it\n"
                   "from tensorflow.python.util import _pywrap_util_port\n"
                   "print('oneDNN', _pywrap_util_port.IsMklEnabled())")


@pytest.mark.parametrize("outside, expected", [(None, "True"), ("0", "False"), ("1", "True")])
def test_training_processes_use_onednn_kernels_unless_told_otherwise(outside, expected):
    # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 VNNI, bfloat16 or AMX; importing cnn_core turns
    # it on everywhere (1.05-1.38x faster training on an AVX2 CPU), and a setting made outside wins.
    result = subprocess.run([sys.executable, "-c", ONEDNN_REPORTED], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env=child_env(TF_ENABLE_ONEDNN_OPTS=outside), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"oneDNN {expected}" in result.stdout

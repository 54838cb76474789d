"""Which devices train: every GPU TensorFlow can see, else the CPU. Nothing here requires a GPU.

With two or more GPUs a `tf.distribute.MirroredStrategy` copies the model onto each and splits every
batch between them; with one GPU or none, TensorFlow's default strategy already places the work well
(one GPU is used automatically), and mirroring would only add overhead.
"""

from __future__ import annotations

import tensorflow as tf


def training_strategy(device_type: str = "GPU") -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs when there are several; the default strategy otherwise.

    `device_type` exists for the tests, which mirror over logical CPU devices on machines without GPUs.
    """
    devices = tf.config.list_logical_devices(device_type)
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.get_strategy()


def describe_devices() -> str:
    """A short human description of what trains here, e.g. "2 GPUs (mirrored)" or "CPU (2 cores)"."""
    import os

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return f"{len(gpus)} GPUs (mirrored)"
    if gpus:
        return "1 GPU"
    return f"CPU ({os.cpu_count()} cores)"

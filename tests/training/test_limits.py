"""Public mode caps what one run may cost: FLOPs per image and weights (counted without TensorFlow, checked
against Keras' own layer table), and the time budget (CNN_STUDIO_MAX_RUN_SECONDS)."""

from __future__ import annotations

import pytest

from cnn_core.training.config import PRESETS, TrainConfig
from cnn_core.training.limits import CostError, flops_per_image, public_limits

CONFIGS = [*PRESETS.values(),
           TrainConfig(filters=[8, 16], convs_per_block=2, padding="valid", pooling="max", dense_units=[32]),
           TrainConfig(filters=[8, 16], padding="same", pooling="none", head="flatten"),
           TrainConfig(filters=[8, 16], convs_per_block=2, pooling="avg", pool_position="after_first_conv",
                       head="global_avg", kernel_size=5),
           TrainConfig(filters=[8], whitening_patch=3, padding="valid", dense_units=[16])]


@pytest.mark.parametrize("config", CONFIGS)
def test_flops_per_image_match_the_layer_table(config):
    from cnn_core.training.model import layer_table

    assert flops_per_image(config, 7) == sum(row["flops"] for row in layer_table(config, 7))


def test_off_public_mode_nothing_changes(monkeypatch):
    monkeypatch.delenv("CNN_STUDIO_PUBLIC", raising=False)
    huge = TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten", epochs=1000)
    assert public_limits(huge) is huge


def test_public_mode_refuses_the_largest_network_and_caps_the_time(monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setenv("CNN_STUDIO_MAX_RUN_SECONDS", "120")
    with pytest.raises(CostError) as caught:
        public_limits(TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten", batch_size=250))
    assert caught.value.reason == "flops" and "MFLOPs" in str(caught.value)
    with pytest.raises(CostError) as caught:  # few FLOPs (1x1 kernels) but a huge dense head
        public_limits(TrainConfig(filters=[64], kernel_size=1, pooling="none", head="flatten", dense_units=[1024]))
    assert caught.value.reason == "parameters"
    default = PRESETS["default"]  # 170 s budget: kept under a 300 s cap, cut to 120 here
    assert public_limits(default).time_budget_seconds == 120
    assert public_limits(PRESETS["seed"]).time_budget_seconds == 120  # no budget: the cap becomes one
    assert public_limits(PRESETS["quick"]).time_budget_seconds == 30  # a shorter one is kept


def test_start_run_refuses_a_costly_network_in_public_mode(app_dirs, monkeypatch):
    from cnn_core.training import launch, runs

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    with pytest.raises(CostError):
        launch.start_run(TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten"), None, "big")
    assert runs.list_runs() == []  # nothing created, nothing started

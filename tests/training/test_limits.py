"""Public mode caps what one run may cost: FLOPs per image and per batch and weights (counted without TensorFlow,
checked against Keras' own layer table), and its time (CNN_STUDIO_MAX_RUN_SECONDS, a ceiling, never a target)."""

from __future__ import annotations

import pytest

from cnn_core.training.config import PRESETS, TrainConfig
from cnn_core.training.layers import flops_per_image
from cnn_core.training.limits import CostError, check_cost

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


def test_the_cost_check_refuses_too_much_work_per_image_per_batch_or_too_many_weights():
    with pytest.raises(CostError) as caught:
        check_cost(TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten", batch_size=250))
    assert caught.value.reason == "flops" and "MFLOPs" in str(caught.value)
    with pytest.raises(CostError) as caught:  # few FLOPs (1x1 kernels) but a huge dense head
        check_cost(TrainConfig(filters=[64], kernel_size=1, pooling="none", head="flatten", dense_units=[1024]))
    assert caught.value.reason == "parameters"
    wide = TrainConfig(filters=[128, 256], batch_size=4096)  # fine per image, 430 GFLOPs a batch
    with pytest.raises(CostError) as caught:
        check_cost(wide)
    largest = caught.value.values["largest"]
    assert caught.value.reason == "batch_flops" and f"at most {largest} images" in str(caught.value)
    check_cost(TrainConfig(filters=[128, 256], batch_size=largest))  # the batch it suggests is accepted
    for config in PRESETS.values():
        check_cost(config)


def test_the_queue_applies_the_limits_in_public_mode_only_and_the_time_cap_is_a_ceiling(monkeypatch):
    from cnn_core.server.queue import capped, run_limit

    huge = TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten", epochs=1000)
    assert capped(huge, {"max_images": None}) == (huge, {"max_images": None})  # a desktop: unchanged
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setenv("CNN_STUDIO_MAX_RUN_SECONDS", "120")
    with pytest.raises(CostError):
        capped(huge, {})
    seed, request = capped(PRESETS["seed"], {})  # no budget: its 10 epochs stay, the cap only bounds them
    assert seed == PRESETS["seed"] and seed.time_budget_seconds == 0 and request["max_seconds"] == 120
    assert run_limit(seed.to_dict(), request) == 120
    default, request = capped(PRESETS["default"], {})  # a 170 s budget is filled: lowered to the 120 s cap
    assert default.time_budget_seconds == 120 and run_limit(default.to_dict(), request) == 120
    quick, request = capped(PRESETS["quick"], {})  # a shorter budget is kept
    assert quick.time_budget_seconds == 30 and run_limit(quick.to_dict(), request) == 30
    assert capped(PRESETS["quick"], {"max_images": 50_000})[1]["max_images"] == 10_000


def test_submitting_a_costly_network_in_public_mode_is_refused_before_any_run_exists(app_dirs, monkeypatch):
    from cnn_core.server import queue
    from cnn_core.training import launch, runs

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    big = TrainConfig(filters=[512, 512, 512], pooling="none", head="flatten")
    with pytest.raises(CostError):
        queue.submit(big, launch.make_request(big, None, "big"), owner="anon-a")
    assert runs.list_runs() == []  # nothing created, nothing started

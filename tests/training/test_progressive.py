"""Progressive resizing: the phases, the training-only layer (against Pillow's resampling), planning a budget with
cheaper early epochs, and a run that trains shrunk and saves a full-size model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from cnn_core.models import registry
from cnn_core.training import launch, progressive, runs
from cnn_core.training.config import ConfigError, TrainConfig
from cnn_core.training.job import saved_form
from cnn_core.training.model import build_model, compile_model
from cnn_core.training.pacing import BudgetKeeper, Calibration, epochs_for_budget, training_seconds
from cnn_core.training.progressive import PHASES, RESIZE_LAYER_NAME, epoch_cost, epoch_phase, epoch_side

from helpers.runs import TINY, new_run

PROGRESSIVE = TrainConfig(filters=[4, 8], padding="same", head="global_avg", progressive_resizing=True)


@pytest.mark.parametrize(("epochs", "sides"), [
    (1, [32]),  # one epoch: at full size, where the model is scored
    (2, [16, 32]),
    (3, [16, 24, 32]),
    (7, [16, 16, 16, 24, 24, 32, 32]),
    (12, [16] * 4 + [24] * 4 + [32] * 4),
])
def test_a_third_of_the_epochs_at_half_size_a_third_at_three_quarters_and_the_last_at_full_size(epochs, sides):
    assert [epoch_side(epoch, epochs, 32) for epoch in range(epochs)] == sides


def test_the_layer_shrinks_like_pillows_antialiased_bilinear_filter_and_only_while_training():
    model = build_model(PROGRESSIVE, for_training=True)
    layer = model.get_layer(RESIZE_LAYER_NAME)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    assert np.array_equal(np.asarray(layer(images, training=False)), images)
    for side in (16, 24):
        layer.side.assign(side)
        shrunk = np.asarray(layer(images, training=True))
        expected = [np.asarray(Image.fromarray(image.astype(np.uint8)).resize((side, side), Image.BILINEAR))
                    for image in images]
        assert shrunk.shape == (2, side, side, 3)
        # Pillow rounds to whole levels; the layer keeps fractions.
        assert np.abs(shrunk - np.stack(expected)).max() <= 1.0


def test_the_trained_weights_are_the_saved_models_and_predict_the_same():
    trainer = build_model(PROGRESSIVE, for_training=True)
    plain = saved_form(trainer, PROGRESSIVE)
    assert RESIZE_LAYER_NAME not in [layer.name for layer in plain.layers]
    assert [w.shape for w in plain.weights] == [w.shape for w in trainer.weights]
    trainer.get_layer(RESIZE_LAYER_NAME).side.assign(16)  # inference ignores the training side
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(plain(images, training=False), trainer(images, training=False), rtol=1e-6)


def test_progressive_resizing_needs_a_head_that_takes_any_size_and_blocks_that_fit_half_size_images():
    with pytest.raises(ConfigError, match="global average"):
        TrainConfig(progressive_resizing=True).validate()  # the seed's flatten head
    # Valid padding: 32 -> 30 -> 15 -> 13 -> 6 -> 4 -> 2 fits full size; 16 -> 14 -> 7 -> 5 -> 2 -> 0 does not.
    fits_full_size = dict(filters=[4, 4, 4], head="global_avg", padding="valid")
    TrainConfig(**fits_full_size).validate()
    with pytest.raises(ConfigError, match="no longer fits"):
        TrainConfig(**fits_full_size, progressive_resizing=True).validate()


def test_a_budget_holds_more_progressive_epochs_and_plans_their_cost():
    calibration = Calibration(step_seconds=0.01, trace_seconds=1.0, evaluation_seconds=0.5,
                              evaluation_trace_seconds=0.5, seconds=2.0)
    # Full-size epochs: 100 x 0.01 + 0.5 + 0.3 = 1.8 s, 89 s left: 49. Progressive ones: 1 s of steps at full size
    # times the epoch's share, + 0.8 s each, counted epoch by epoch (the last epoch always at full size).
    assert epochs_for_budget(101, 10, calibration, 100, finish_seconds=2.0) == 49
    epochs = epochs_for_budget(101, 10, calibration, 100, finish_seconds=2.0, epoch_cost=epoch_cost)
    by_hand = [n for n in range(1, 200) if sum(PHASES[epoch_phase(e, n)][1] + 0.8 for e in range(n)) <= 89]
    assert epochs == max(by_hand) and epochs > 49
    assert training_seconds(calibration, 100, epochs, epoch_cost) <= 89 < training_seconds(
        calibration, 100, epochs + 1, epoch_cost)


def make_progressive_keeper(last_epoch: int, seconds_left: float):
    """A started BudgetKeeper for a progressive run of `last_epoch` epochs (90 s of steps + 1 s at full size)."""
    config = TrainConfig(filters=[4], schedule="linear")
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=10, epochs=last_epoch)
    replans = []
    keeper = BudgetKeeper(resize=lambda steps: None, deadline=time.monotonic() + seconds_left, steps_per_epoch=10,
                          initial_epoch=0, last_epoch=last_epoch, max_last_epoch=last_epoch + 2,
                          on_replan=replans.append, epoch_cost=epoch_cost, fixed_seconds=1.0)
    keeper.set_model(model)
    keeper.on_train_begin()
    return keeper, replans


def test_the_budget_keeper_judges_a_shrunk_epoch_by_its_share_of_the_time():
    half = PHASES[0][1]
    planned = sum(epoch_cost(epoch, 12) * 90 + 1 for epoch in range(12))  # 12 epochs, 4 of each size
    keeper, replans = make_progressive_keeper(12, planned + 5)
    keeper._last_end -= half * 90 + 1  # a 16-pixel epoch on plan: as if a full-size epoch took 91 s
    keeper.deadline -= half * 90 + 1
    keeper.on_epoch_end(0)
    assert replans == [] and keeper._full_epoch_seconds() == pytest.approx(91.0, abs=0.1)
    keeper._last_end -= 91.0  # 91 s for another 16-pixel epoch: far too slow, the plan shrinks
    keeper.deadline -= 91.0
    keeper.on_epoch_end(1)
    # Both epochs' steps over both epochs' shares, plus the fixed part.
    assert keeper._full_epoch_seconds() == pytest.approx((half * 90 + 90) / (2 * half) + 1, abs=0.1)
    assert replans and replans[-1] < 12


def test_a_progressive_run_trains_shrunk_then_full_size_and_saves_a_plain_model(app_dirs, cifar_subset, monkeypatch):
    sides = []
    monkeypatch.setattr(progressive, "epoch_side", lambda *args: sides.append(epoch_side(*args)) or sides[-1])
    config = TrainConfig(**{**TINY, "head": "global_avg", "padding": "same", "progressive_resizing": True}, epochs=3)
    run_id = new_run(config, str(cifar_subset), "shrunk", max_images=300)
    launch.run_training(run_id)
    assert sides == [16, 24, 32]
    assert [event["epoch"] for event in runs.history(run_id)] == [1, 2, 3]
    assert [event["progressive_resizing"] for event in runs.read_events(run_id) if event["type"] == "start"] == [True]
    saved = registry.load_model("shrunk")
    assert RESIZE_LAYER_NAME not in [layer.name for layer in saved.layers] and saved.input_shape == (None, 32, 32, 3)
    assert registry.load_metadata("shrunk")["config"]["progressive_resizing"] is True


def test_a_run_never_ends_on_shrunk_images_even_when_its_budget_is_spent():
    keeper, _ = make_progressive_keeper(2, 5)
    keeper._last_end -= 10.0  # the 16-pixel epoch took 10 s: no time is left for the full-size one...
    keeper.on_epoch_end(0)
    # ...which still trains: epoch 2 of 2, at full size (without this, the run would end on 16-pixel images)
    assert not keeper.model.stop_training and keeper.last_epoch == 2 and epoch_side(1, 2, 32) == 32
    keeper._last_end -= 10.0
    keeper.on_epoch_end(1)  # a full-size epoch over its time: the run ends there
    assert keeper.model.stop_training

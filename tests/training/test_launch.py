"""The training job: events, stop, failure, interrupted runs, resume, time budget, run-folder I/O.

Runs use a tiny model (4 filters) and `max_images` (the first N images of each split), a documented
request field, so each in-process run takes a few seconds. Background runs start a real spawned process.
"""

from __future__ import annotations

import csv
import io
import multiprocessing.spawn
import os
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import psutil
import pytest
import tensorflow as tf

from cnn_core import i18n, processes
from cnn_core.datasets.base import DataError, stratified_holdout
from cnn_core.datasets.loading import load_dataset
from cnn_core.models import registry
from cnn_core.training import figures, launch, resume, runs
from cnn_core.training.config import TrainConfig
from cnn_core.training.live_metrics import BATCH_EVENT_SECONDS, LiveMetrics
from cnn_core.training.model import build_model, compile_model, resize_schedule, whitening_weights
from cnn_core.training.pacing import (
    SAVE_SECONDS,
    TRACE_SECONDS,
    BudgetKeeper,
    Calibration,
    epochs_for_budget,
    steps_per_execution_for,
)
from cnn_core.training.schedules import learning_rate_at
from cnn_core.training.transfer import METADATA_KEYS

from helpers.runs import TINY, first_epoch_seen, new_run, wait_until

# --- A whole run in-process: every event, checked against independent recomputation. ---


def test_run_reports_every_stage_and_its_numbers_add_up(app_dirs, cifar_subset):
    config = TrainConfig(**TINY, epochs=2)
    run_id = new_run(config, str(cifar_subset), max_images=600)
    seen = []
    summary = launch.run_training(run_id, on_event=seen.append)

    events = runs.read_events(run_id)
    assert events == seen  # the file holds exactly what was streamed
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["loading", "start"] and kinds[-3:] == ["evaluating", "saving", "finish"]
    assert kinds.count("epoch") == 2 and "batch" in kinds
    # The validation split is 10 % of each class of the 600 training images (seeded); the test split is untouched.
    dataset = load_dataset(cifar_subset)
    first_600 = dataset.y_train[:600]
    expected_validation = sum(int(round(0.1 * np.sum(first_600 == label))) for label in np.unique(first_600))
    start = events[1]
    assert start["validation_images"] == expected_validation and start["train_images"] == 600 - expected_validation
    assert start["test_images"] == 509 and start["epochs"] == 2
    assert start["steps_per_epoch"] == int(np.ceil((600 - expected_validation) / 64))
    assert 1 <= start["steps_per_execution"] <= start["steps_per_epoch"]

    batches = [event for event in events if event["type"] == "batch"]
    for earlier, later in zip(batches, batches[1:]):
        if earlier["epoch"] == later["epoch"]:  # throttled: a few per second at most
            assert later["elapsed"] - earlier["elapsed"] >= BATCH_EVENT_SECONDS * 0.99
    assert all(np.isfinite(event["loss"]) and 0 <= event["accuracy"] <= 1 for event in batches)

    epochs = [event for event in events if event["type"] == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2]
    assert all(event["learning_rate"] == pytest.approx(config.learning_rate) for event in epochs)  # "constant"
    assert epochs[-1]["eta"] == pytest.approx(0.0)

    # Independent check: score the saved model ourselves on the same test images.
    saved = registry.load_model("tiny")
    predicted = keras.ops.convert_to_numpy(saved(dataset.x_test.astype(np.float32), training=False)).argmax(axis=1)
    finish = events[-1]
    assert finish["test_accuracy"] == pytest.approx(np.mean(predicted == dataset.y_test))
    # The live "validation" curve is the held-out training images, not the test split: the saved (final) model
    # scores the last epoch's val_accuracy on exactly those images.
    held_out = stratified_holdout(first_600, 0.1, config.seed)
    on_validation = keras.ops.convert_to_numpy(saved(dataset.x_train[:600][held_out].astype(np.float32), training=False))
    assert epochs[-1]["val_accuracy"] == pytest.approx(np.mean(on_validation.argmax(axis=1) == first_600[held_out]))
    assert finish["validation_accuracy"] == pytest.approx(epochs[-1]["val_accuracy"], abs=1e-6)
    matrix = np.array(finish["confusion_matrix"])
    assert matrix.sum() == 509 and np.trace(matrix) == np.sum(predicted == dataset.y_test)
    for index, name in enumerate(dataset.class_names):
        assert finish["per_class_accuracy"][name] == pytest.approx(matrix[index, index] / matrix[index].sum())

    status = runs.read_status(run_id)
    assert status["state"] == "finished" and status["test_accuracy"] == finish["test_accuracy"]
    assert summary["model_saved"] and summary["epochs_completed"] == 2
    metadata = registry.load_metadata("tiny")
    contract_keys = {"name", "config", "class_names", "dataset", "train_images", "test_images", "test_accuracy",
                     "per_class_accuracy", "history", "created", "training_seconds", "keras_version", "run_id",
                     "validation_images", "validation_accuracy"}
    assert contract_keys <= set(metadata) and metadata["run_id"] == run_id and len(metadata["history"]) == 2
    about = i18n.message_from_record(metadata["dataset_about"])  # the classify page shows it in either language
    assert about.text("en") == metadata["dataset"] and about.text("zh").endswith("，每个划分只取前 600 张")
    assert set(metadata) - {"config", "class_names"} <= METADATA_KEYS  # so another CNN Studio can import it
    rows = list(csv.DictReader(io.StringIO(runs.history_csv(run_id))))
    assert [float(row["val_accuracy"]) for row in rows] == pytest.approx([event["val_accuracy"] for event in epochs])
    results = launch.test_predictions(run_id)
    np.testing.assert_array_equal(results["predictions"], predicted)
    # TensorBoard's own reader finds the same curves in the run's logs, and the page's zip carries them.
    logged = tensorboard_scalars(app_dirs["runs"] / run_id / "tensorboard")
    assert logged[("train", "epoch_loss")] == pytest.approx([event["loss"] for event in epochs], rel=1e-6)
    assert logged[("validation", "epoch_accuracy")] == pytest.approx([event["val_accuracy"] for event in epochs])
    assert logged[("train", "epoch_learning_rate")] == pytest.approx([config.learning_rate] * 2)
    with zipfile.ZipFile(io.BytesIO(runs.tensorboard_zip(run_id))) as archive:
        names = archive.namelist()
    assert any(name.startswith(f"{run_id}/train/events.out.tfevents.") for name in names)
    assert any(name.startswith(f"{run_id}/validation/events.out.tfevents.") for name in names)


def tensorboard_scalars(log_dir) -> dict[tuple[str, str], list[float]]:
    """{(split, tag): values by step} read with TensorBoard's EventAccumulator (independent of our writer)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for split in ("train", "validation"):
        events = EventAccumulator(str(log_dir / split), size_guidance={"tensors": 0})
        events.Reload()
        for tag in [tag for tag in events.Tags()["tensors"] if tag.startswith("epoch_")]:  # not histograms
            values = sorted(events.Tensors(tag), key=lambda event: event.step)
            found[(split, tag)] = [float(tf.make_ndarray(event.tensor_proto)) for event in values]
    return found


def test_batch_events_smooth_the_latest_steps_not_the_epoch_mean(tmp_path):
    emitted = []
    callback = LiveMetrics(
        emitted.append, stop_file=tmp_path / "STOP", checkpoint_folder=tmp_path, steps_per_epoch=20,
        batch_size=10, train_images=200, last_epoch=1, clock_start=time.monotonic(),
    )
    callback.set_model(types_namespace(stop_training=False))
    callback.on_epoch_begin(0)
    step_losses = [2.0] * 10 + [1.0] * 10  # Keras reports the running mean of these
    for end in (10, 20):
        callback._window_start -= 1.0  # pretend time passed, so each call emits an event
        callback.on_train_batch_end(end - 1, {"loss": np.mean(step_losses[:end]), "accuracy": 0.5})
    first, second = emitted
    assert first["loss"] == pytest.approx(2.0)
    weight = 1 - 0.95**10
    assert second["loss"] == pytest.approx(2.0 + weight * (1.0 - 2.0))  # EMA of the latest 10 steps' mean (1.0)
    assert second["step"] == 20 and second["images_per_second"] > 0


def types_namespace(**values):
    import types

    return types.SimpleNamespace(**values)


# --- Stop, failure, interruption and resume. ---


def test_stop_file_present_before_training_stops_without_saving(app_dirs, cifar_subset):
    run_id = new_run(TrainConfig(**TINY, epochs=3), str(cifar_subset), max_images=200)
    runs.request_stop(run_id)
    summary = launch.run_training(run_id)
    assert summary["state"] == "stopped" and not summary["model_saved"]
    assert runs.read_status(run_id)["state"] == "stopped"
    assert [event["type"] for event in runs.read_events(run_id)][-1] == "stopped"
    assert registry.list_models() == []


@pytest.mark.slow
def test_background_run_streams_refuses_a_second_run_and_stops_keeping_the_best_model(app_dirs, cifar_subset,
                                                                                     monkeypatch):
    run_id = launch.start_run(TrainConfig(**TINY, epochs=200), str(cifar_subset), "background", max_images=1000,
                              nice=3)  # the priority the server passes reaches the training process
    with pytest.raises(runs.BusyError, match=run_id):
        launch.start_run(TrainConfig(**TINY), str(cifar_subset), "second")
    assert runs.active_run() == run_id
    wait_until(lambda: first_epoch_seen(run_id))
    assert runs.read_status(run_id)["state"] == "running"
    if sys.platform != "win32":  # (Windows has priority classes, not nice values)
        assert psutil.Process(runs.read_status(run_id)["pid"]).nice() == max(psutil.Process().nice(), 3)
    runs.request_stop(run_id)
    status = launch.wait_for(run_id, timeout=120)
    assert status["state"] == "stopped" and status["model_saved"]
    events = runs.read_events(run_id)
    stopped = next(event for event in events if event["type"] == "stopped")
    finish = events[-1]
    assert finish["type"] == "finish" and stopped["epochs_completed"] >= 1
    assert stopped["epochs_completed"] < 200
    epochs = [event for event in events if event["type"] == "epoch"]
    # The kept model is the best epoch by validation accuracy (the test split only scores it, once, afterwards).
    assert finish["validation_accuracy"] == pytest.approx(max(event["val_accuracy"] for event in epochs), abs=1e-6)
    assert registry.load_metadata("background")["epochs_trained"] == stopped["epochs_completed"]
    assert runs.active_run() is None


def test_background_run_with_missing_data_fails_with_a_message(app_dirs, tmp_path):
    missing = tmp_path / "no-such-dataset"
    run_id = launch.start_run(TrainConfig(**TINY), str(missing), "never")
    status = launch.wait_for(run_id, timeout=120)
    assert status["state"] == "failed"
    assert str(missing) in status["error"] and "does not exist" in status["error"]
    assert runs.read_events(run_id)[-1] == {"type": "failed", "error": status["error"]}
    assert (app_dirs["runs"] / run_id / "error.txt").read_text().startswith("Traceback")
    assert registry.list_models() == []


def test_in_process_failure_is_recorded_and_raised(app_dirs, tmp_path):
    run_id = new_run(TrainConfig(**TINY), str(tmp_path / "missing"))
    with pytest.raises(DataError):
        launch.run_training(run_id)
    assert runs.read_status(run_id)["state"] == "failed"


def test_a_run_whose_process_is_gone_reads_interrupted(app_dirs):
    run_id = new_run(TrainConfig(**TINY), None)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    runs.update_status(run_id, state="running", pid=finished.pid)
    assert runs.read_status(run_id)["state"] == "interrupted"
    assert "unexpectedly" in runs.read_status(run_id)["error"]
    assert runs.active_run() is None
    # A live pid that belongs to another process (pid reuse after a restart) does not count either.
    runs.update_status(run_id, pid=os.getpid(), pid_started="not-this-process")
    assert runs.read_status(run_id)["state"] == "interrupted"
    runs.update_status(run_id, pid_started=processes.process_start_marker(os.getpid()))
    assert runs.read_status(run_id)["state"] == "running"
    with pytest.raises(runs.BusyError):
        runs.delete_run(run_id)


def test_runs_are_listed_newest_first_and_deleted_when_finished(app_dirs):
    older, newer = new_run(TrainConfig(**TINY), None), new_run(TrainConfig(**TINY), None)
    runs.update_status(older, state="finished", created="2026-01-01T00:00:00+00:00")
    runs.update_status(newer, state="failed", created="2026-02-01T00:00:00+00:00")
    assert [status["run_id"] for status in runs.list_runs()] == [newer, older]
    runs.delete_run(older)
    assert [status["run_id"] for status in runs.list_runs()] == [newer]
    assert not (app_dirs["runs"] / older).exists()
    with pytest.raises(runs.RunNotFoundError):
        runs.read_status(older)
    with pytest.raises(runs.RunNotFoundError):
        runs.read_status("../../etc")


def test_read_events_leaves_a_half_written_line_for_the_next_poll(app_dirs):
    run_id = new_run(TrainConfig(**TINY), None)
    runs.append_event(run_id, {"type": "start", "epochs": 1})
    with open(app_dirs["runs"] / run_id / "events.jsonl", "a") as handle:
        handle.write('{"type": "ba')
    assert runs.read_events(run_id) == [{"type": "start", "epochs": 1}]
    with open(app_dirs["runs"] / run_id / "events.jsonl", "a") as handle:
        handle.write('tch"}\n')
    assert runs.read_events(run_id, since=1) == [{"type": "batch"}]


def test_a_run_whitens_from_its_own_training_images_and_a_resumed_run_keeps_that_whitening(app_dirs, cifar_subset):
    config = TrainConfig(**{**TINY, "whitening_patch": 2}, epochs=1)
    launch.run_training(new_run(config, str(cifar_subset), "whitened", max_images=300))
    data = load_dataset(cifar_subset)
    held_out = stratified_holdout(data.y_train[:300], config.validation_fraction, config.seed)
    train_images = data.x_train[:300][~held_out]
    saved = registry.load_model("whitened").get_layer("block0_conv1").get_weights()
    for weight, expected in zip(saved, whitening_weights(train_images, 2), strict=True):  # not the validation images
        np.testing.assert_allclose(weight, expected, rtol=1e-6, atol=1e-6)
    launch.run_training(new_run(config, str(cifar_subset), "whitened", max_images=100, resume_from="whitened"))
    for weight, expected in zip(registry.load_model("whitened").get_layer("block0_conv1").get_weights(), saved):
        np.testing.assert_array_equal(weight, expected)  # from the model it continued, not from the 100 new images


def test_resume_from_a_saved_model_numbers_epochs_on(app_dirs, cifar_subset):
    registry.save_model(build_model(TrainConfig(**TINY)), "base", {"config": TrainConfig(**TINY).to_dict(), "epochs_trained": 3})
    assert resume.resume_config("base").filters == [4]
    run_id = new_run(TrainConfig(**TINY, epochs=1), str(cifar_subset), "base", max_images=200, resume_from="base")
    launch.run_training(run_id)
    events = runs.read_events(run_id)
    assert events[1]["initial_epoch"] == 3 and [event["epoch"] for event in runs.history(run_id)] == [4]
    metadata = registry.load_metadata("base")
    assert metadata["epochs_trained"] == 4 and metadata["resumed_from"] == "base"
    assert (app_dirs["models"] / "base" / "model.keras.bak").exists()  # the model it continued is kept


def test_copy_weights_transfers_every_trained_layer_and_refuses_other_architectures():
    source, target = build_model(TrainConfig(filters=[4], seed=1)), build_model(TrainConfig(filters=[4], seed=2, flip=True))
    resume.copy_weights(source, target)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(target(images, training=False), source(images, training=False), rtol=1e-6)
    with pytest.raises(runs.TrainingError, match="does not match"):
        resume.copy_weights(source, build_model(TrainConfig(filters=[8])))


def test_resume_from_unknown_source_is_refused_before_starting(app_dirs):
    with pytest.raises(runs.TrainingError, match="Nothing to resume"):
        launch.start_run(TrainConfig(**TINY), None, "x", resume_from="no-such-model")
    assert runs.list_runs() == []


def test_spawned_children_do_not_re_run_the_parent_main_script():
    # Under Streamlit, __main__ is the page script; a spawned child would execute it again.
    with launch._main_module_hidden():
        preparation = multiprocessing.spawn.get_preparation_data("child")
    assert "init_main_from_path" not in preparation and "init_main_from_name" not in preparation


# --- Time budget. ---


def test_epochs_for_budget_fills_what_is_left_after_fixed_costs():
    calibration = Calibration(step_seconds=0.01, trace_seconds=1.0, evaluation_seconds=0.5,
                              evaluation_trace_seconds=0.5, seconds=2.0)
    # per epoch 100 x 0.01 + 0.5 + 0.3 = 1.8 s; left 101 - 10 (setup and calibration, traces included) - 2 = 89 s:
    # 49.4 epochs. The traces were paid while calibrating, so they are not counted again.
    assert epochs_for_budget(101, 10, calibration, 100, finish_seconds=2.0) == 49
    assert epochs_for_budget(101, 10, calibration, 100, finish_seconds=10.0) == 45  # 81 s: 45.0 epochs
    assert epochs_for_budget(101, 10, calibration, 100, finish_seconds=2.0, max_epochs=20) == 20
    assert epochs_for_budget(5, 10, calibration, 100, finish_seconds=2.0) == 1  # at least one epoch
    assert steps_per_execution_for(0.01, 100) == 30 and steps_per_execution_for(0.01, 8) == 8
    assert steps_per_execution_for(5.0, 100) == 1


def make_keeper(max_last_epoch: int):
    """A started BudgetKeeper over a compiled tiny linear-schedule model: 10 epochs of 10 steps, 100 s left (and half a second for the test itself)."""
    config = TrainConfig(filters=[4], schedule="linear")
    model = build_model(config)
    schedule = compile_model(model, config, steps_per_epoch=10, epochs=10)
    replans = []
    keeper = BudgetKeeper(
        resize=lambda total_steps: resize_schedule(schedule, config, total_steps),
        deadline=time.monotonic() + 100.5, steps_per_epoch=10, initial_epoch=0, last_epoch=10,
        max_last_epoch=max_last_epoch, on_replan=replans.append,
    )
    keeper.set_model(model)
    keeper.on_train_begin()
    return config, schedule, keeper, replans


def test_budget_keeper_shrinks_the_schedule_when_epochs_get_slower():
    config, schedule, keeper, replans = make_keeper(max_last_epoch=22)
    keeper._last_end -= 10.0  # 10 s: the 9 epochs left fit the 100 s, with no clear room for more
    keeper.on_epoch_end(0)
    assert replans == [] and keeper.last_epoch == 10
    keeper._last_end -= 20.0  # then 20 s: the mean (15 s) fits 100 // 15 = 6 more, not 8
    keeper.on_epoch_end(1)
    assert replans == [8] and keeper.last_epoch == 8
    # The linear decay now ends at step 8 x 10 = 80, not 100; half-way is step 40, at half the peak.
    assert float(schedule(40)) == pytest.approx(learning_rate_at(config, 40, 80)) == pytest.approx(0.5e-3)
    assert schedule.total_steps == 80
    assert not keeper.model.stop_training
    keeper.on_epoch_end(7)  # the new last epoch: stop there
    assert keeper.model.stop_training


def test_budget_keeper_grows_a_plan_that_has_room_but_only_so_often():
    from cnn_core.training.pacing import MAX_REPLANS

    _, schedule, keeper, replans = make_keeper(max_last_epoch=1000)
    keeper._last_end -= 1.0  # 1 s epochs: 100 more fit in the 100 s left
    keeper.on_epoch_end(0)
    assert replans == [101] and schedule.total_steps == 1010
    keeper.replans = MAX_REPLANS  # the machine got faster three times already
    keeper.last_epoch = 10
    keeper._last_end -= 1.0
    keeper.on_epoch_end(1)
    assert replans == [101] and keeper.last_epoch == 10  # no more growing
    keeper._last_end -= 40.0  # now 40 s per epoch (the mean of 1, 1, 40 fits 2 more, of 1, 1, 40, 40 one)
    keeper.on_epoch_end(2)
    keeper._last_end -= 40.0
    keeper.on_epoch_end(3)
    assert len(replans) == 2 and keeper.last_epoch < 10  # shrunk rather than cut off by the safety net


def test_budget_keeper_holds_its_plan_when_epoch_times_only_scatter():
    # Epochs alternate 9 s and 11 s on a plan that fits at 10 s (on shared cores they scattered 24-44 s): the
    # plan stands. The median of the last three (9, 11, 9 -> 9; then 11, 9, 11 -> 11) re-planned here.
    _, _, keeper, replans = make_keeper(max_last_epoch=1000)
    for epoch in range(8):
        keeper._last_end -= 9.0 if epoch % 2 == 0 else 11.0
        keeper.deadline -= 9.0 if epoch % 2 == 0 else 11.0  # the clock as if the epoch took that long
        keeper.on_epoch_end(epoch)
    assert replans == [] and keeper.last_epoch == 10


@pytest.mark.timing
def test_a_budget_too_short_for_one_epoch_is_said_and_its_estimate_is_honest(app_dirs, cifar_subset):
    # Half a second cannot hold even calibration: the run trains its one epoch, and its start event says, before
    # training, about how long the whole run will take (checked against the real duration). The estimate keeps
    # the end's cautious constants (trace and save, 1.5 s, measured at 0.3-0.5 s warm), so it may run long by them.
    config = TrainConfig(filters=[32, 64], batch_size=64, time_budget_seconds=0.5)
    run_id = new_run(config, str(cifar_subset), name="too-short", max_images=3072)
    started = time.monotonic()
    summary = launch.run_training(run_id, started=started)
    wall = time.monotonic() - started
    expected, budget = figures.over_budget(runs.read_events(run_id))
    assert budget == 0.5 and summary["epochs_completed"] == 1
    assert 0.8 * wall <= expected <= 1.25 * wall + TRACE_SECONDS + SAVE_SECONDS, (expected, wall)


@pytest.mark.slow
@pytest.mark.timing
def test_time_budget_is_respected_and_the_schedule_spans_it(app_dirs, cifar_subset):
    budget = 25.0
    config = TrainConfig(filters=[8, 16], batch_size=64, schedule="linear", time_budget_seconds=budget)
    run_id = new_run(config, str(cifar_subset), name="budget")
    started = time.monotonic()
    summary = launch.run_training(run_id, started=started)
    wall = time.monotonic() - started
    start = next(event for event in runs.read_events(run_id) if event["type"] == "start")
    epochs = runs.history(run_id)
    assert summary["seconds"] <= 1.1 * budget and wall <= 1.1 * budget
    assert summary["seconds"] >= 0.7 * budget  # the budget is used, not left idle
    planned = runs.read_status(run_id)["epochs"]  # the calibrated plan, re-sized if the machine's speed changed
    assert start["epochs"] > 1 and len(epochs) == planned  # every planned epoch ran: not cut off
    assert summary["stopped_by"] is None
    assert epochs[-1]["learning_rate"] == pytest.approx(0.0, abs=1e-9)  # the schedule ends with the budget


def test_a_long_run_widens_only_a_budget_holding_four_times_the_epochs_within_a_servers_limits():
    from cnn_core.training.config import preset
    from cnn_core.training.limits import CostError, check_cost
    from cnn_core.training.pacing import WIDEN_FACTOR, widened_for_long_run

    default = preset("default")
    assert WIDEN_FACTOR == 4 and default.epochs == 17
    assert widened_for_long_run(default, planned_epochs=67, num_classes=10) is None  # less than 4 x 17
    wider = widened_for_long_run(default, planned_epochs=68, num_classes=10)
    assert wider.to_dict() == {**default.to_dict(), "filters": [64, 128, 256], "weight_decay": 0.1,  # best's widths
                               "long_run_width": 1.0, "long_run_weight_decay": 0.0}  # applied: never twice
    same_decay = TrainConfig(**{**default.to_dict(), "long_run_weight_decay": 0.0})
    assert widened_for_long_run(same_decay, 1000, 10).weight_decay == default.weight_decay
    assert widened_for_long_run(TrainConfig(**{**default.to_dict(), "long_run_width": 1.0}), 1000, 10) is None
    assert widened_for_long_run(TrainConfig(**{**default.to_dict(), "filters": [8]}), 1000, 10) is None  # 8 x 1.33: 8
    # 3x the widths costs ~9x a step: 68 narrow epochs would hold ~8 wide ones, fewer than the 17 asked for.
    assert widened_for_long_run(TrainConfig(**{**default.to_dict(), "filters": [16, 32, 64], "long_run_width": 3.0}),
                                68, 10) is None
    assert widened_for_long_run(TrainConfig(**{**default.to_dict(), "filters": [16, 32, 64], "long_run_width": 3.0}),
                                300, 10).filters == [48, 96, 192]
    # Within a shared server's limits, but a wider copy would not be: the run keeps its own network.
    big = TrainConfig(**{**default.to_dict(), "filters": [72, 144, 288]})
    check_cost(big)
    with pytest.raises(CostError):
        check_cost(TrainConfig(**{**big.to_dict(), "filters": [96, 192, 384]}))
    assert widened_for_long_run(big, 1000, 10) is None
    # Past the limits only where there are none: best widened on a lab server or by the CLI, never by a shared server.
    best = TrainConfig(**{**preset("best").to_dict(), "long_run_width": 1.33})
    assert widened_for_long_run(best, 4 * best.epochs, 10, shared_server=False).filters == [88, 168, 344]
    assert widened_for_long_run(best, 4 * best.epochs, 10, shared_server=True) is None


def test_long_run_mixup_turns_on_only_for_a_budget_holding_twice_the_epochs():
    from cnn_core.training.pacing import LONG_RUN_FACTOR, long_run_mixup

    assert LONG_RUN_FACTOR == 2
    assert long_run_mixup(0.0, 0.2, epochs=17, planned_epochs=34) == 0.2  # twice the epochs: on
    assert long_run_mixup(0.0, 0.2, epochs=17, planned_epochs=33) == 0.0  # less: off
    assert long_run_mixup(0.4, 0.2, epochs=17, planned_epochs=80) == 0.4  # the run's own mixup wins
    assert long_run_mixup(0.0, 0.0, epochs=17, planned_epochs=80) == 0.0  # not asked for


@pytest.mark.parametrize(("epochs", "long"), [(1, True), (500, False)])
def test_a_budget_far_longer_than_the_configs_epochs_trains_a_wider_network_with_mixup(app_dirs, cifar_subset,
                                                                                       monkeypatch, epochs, long):
    from cnn_core.training import job

    built, shared = [], []
    original, widened = job.make_datasets, job.widened_for_long_run
    monkeypatch.setattr(job, "make_datasets", lambda data, config, classes: (
        built.append(config.mixup_alpha), original(data, config, classes))[1])
    monkeypatch.setattr(job, "widened_for_long_run", lambda *args, shared_server: (
        shared.append(shared_server), widened(*args, shared_server=shared_server))[1])
    config = TrainConfig(**TINY, epochs=epochs, long_run_mixup_alpha=0.3, long_run_width=2.0,
                         long_run_weight_decay=0.05, time_budget_seconds=12.0)
    request = launch.make_request(config, str(cifar_subset), "tiny", max_images=600)
    if long:  # as a shared server's queue makes it (queue.capped): a ceiling, so its cost limits bound the widening
        request["max_seconds"] = 300.0
    run_id = runs.create_run(config.to_dict(), request)
    launch.run_training(run_id)
    assert shared == [long]
    start = next(event for event in runs.read_events(run_id) if event["type"] == "start")
    saved = registry.load_metadata("tiny")["config"]
    assert start["epochs"] >= (4 if long else 2)  # 12 s hold many epochs of 540 images: 4x 1, never 2x 500
    assert start["mixup_alpha"] == saved["mixup_alpha"] == (0.3 if long else 0.0)
    assert built == ([0.0, 0.3] if long else [0.0])  # the training pipeline is rebuilt with mixup on
    # A long run trains filters 4 x 2 with its own weight decay, and says so; the saved model is that network (Keras'
    # own kernel shape); config.json keeps what was asked (a shared link trains as the learner set it).
    filters, decay = ([8], 0.05) if long else ([4], 0.0)
    assert (start["filters"], start["weight_decay"], start["widened_from"]) == (filters, decay, [4] if long else None)
    assert saved["filters"] == filters and saved["weight_decay"] == decay
    assert registry.load_model("tiny").get_layer("block1_conv1").kernel.shape[-1] == filters[0]
    assert runs.read_config(run_id) == config.to_dict()


def test_a_long_runs_checkpoint_resumes_the_network_it_trained(app_dirs, cifar_subset):
    """Stopped after its first epoch, a widened run's Resume (and a requeue after a restart) rebuilds the wider
    network with its mixup, though its config.json names the one asked for."""
    from cnn_core.server import queue

    config = TrainConfig(**TINY, epochs=1, long_run_mixup_alpha=0.3, long_run_width=2.0, time_budget_seconds=30.0)
    run_id = launch.start_run(config, str(cifar_subset), "tiny", max_images=600)
    wait_until(lambda: first_epoch_seen(run_id))
    runs.request_stop(run_id)
    assert launch.wait_for(run_id, timeout=120)["state"] == "stopped"
    checkpoint = resume.read_checkpoint(run_id)
    assert checkpoint is not None and checkpoint.config["filters"] == [8] and checkpoint.config["mixup_alpha"] == 0.3
    again = resume.continuation(run_id, checkpoint)
    assert (again["filters"], again["mixup_alpha"], again["epochs"]) == ([8], 0.3, checkpoint.epochs_left)
    assert queue._requeued_request(run_id)[0] == again and resume.resume_config(run_id).filters == [8]
    resumed = new_run(TrainConfig.from_dict(again), str(cifar_subset), name="tiny-resumed", max_images=600,
                      resume_from=run_id)
    launch.run_training(resumed)  # the checkpoint's weights load into the network built from `again`
    assert runs.read_status(resumed)["state"] == "finished"
    assert registry.load_model("tiny-resumed").get_layer("block1_conv1").kernel.shape[-1] == 8

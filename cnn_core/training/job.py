"""The body of one training run, from its request to a saved model: cnn_core.training.launch calls `train_run`.

The story of a run:
1. load the data (downloading CIFAR-10 if asked), pick the arithmetic (cnn_core.training.precision) and build
   the model, copying weights when resuming;
2. pick `steps_per_execution` from a quick speed probe (see cnn_core.training.pacing);
3. with a time budget, calibrate on real steps and choose the epoch count that fits, so the learning-rate
   schedule spans the whole budget (re-planned at epoch ends if the machine's speed changes); a budget that holds
   four times the config's epochs trains its long-run wider network (calibrated anew), and one that holds twice
   them turns its long-run mixup on;
4. fit, streaming events through LiveMetrics (which also honours Stop and keeps the best weights);
5. keep the final weights (the best epoch if stopped early), score the test split (clean, then under the
   corruption suite of cnn_core.classify.corruptions), save, report.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from cnn_core import i18n
from cnn_core.classify.corruptions import corruption_accuracy
from cnn_core.classify.inference import predict_probabilities, traced_forward
from cnn_core.datasets.base import Dataset
from cnn_core.models.registry import save_model
from cnn_core.models.robustness import SUITE
from cnn_core.training.config import TrainConfig
from cnn_core.training.data import load_request_data
from cnn_core.training.devices import describe_devices, training_strategy
from cnn_core.training.evaluation import evaluate_model, stored_confusion
from cnn_core.training.live_metrics import LiveMetrics
from cnn_core.training.model import (
    WarmupDecaySchedule,
    adapt_whitening,
    build_model,
    compile_model,
    make_datasets,
    ordered_batches,
    resize_schedule,
)
from cnn_core.training.pacing import (
    EPOCH_OVERHEAD_SECONDS,
    BudgetKeeper,
    Calibration,
    EpochCost,
    calibrate,
    calibration_seconds_for,
    epochs_for_budget,
    estimate_step_seconds,
    finish_seconds_estimate,
    long_run_mixup,
    robustness_seconds_estimate,
    steps_per_execution_for,
    training_seconds,
    widened_for_long_run,
)
from cnn_core.training.precision import POLICIES, Precision, choose_precision, dtype_policy, training_step_seconds
from cnn_core.training.progressive import ProgressiveResizing, epoch_cost
from cnn_core.training.resume import (
    Checkpoint,
    check_resume_source,
    copy_weights,
    load_saved_model,
    read_checkpoint,
    remove_checkpoint,
    restore_checkpoint,
)
from cnn_core.training.runs import (
    RUN_ID_PATTERN,
    TrainingError,
    history,
    now_iso,
    read_config,
    read_request,
    run_folder,
    stop_file,
    update_status,
)
from cnn_core.training.snapshots import snapshot_callback
from cnn_core.training.tensorboard_logs import TensorBoardLogs

BUDGET_OVERRUN = 0.05  # a time-budgeted run is cut short only when it would overrun its budget by this share


@dataclass
class Job:
    """What every step of a run needs: its id, where events go, when its clock started, its settings."""

    run_id: str
    emit: Callable[[dict[str, Any]], None]
    started: float  # time.monotonic() when the time budget began
    config: TrainConfig
    request: dict[str, Any]
    folder: Path
    widened_from: list[int] | None = None  # a long run's asked filters, when it trains a wider network (long_run)
    precision: Precision = field(default_factory=lambda: Precision("float32", "default"))  # chosen in `prepare`


@dataclass
class Plan:
    """How long the run trains: epochs, steps, and (with a time budget) when training must end."""

    epochs: int
    steps_per_epoch: int
    steps_per_execution: int
    deadline: float | None = None  # time.monotonic() by which training should end
    finish_seconds: float = 0.0  # expected time for evaluation and saving after the last epoch
    calibration: Calibration | None = None
    schedule_start_epoch: int = 0  # where the learning-rate schedule starts (earlier than now when resuming a run)
    schedule_steps: int | None = None  # the schedule's length; None: this run's own steps
    expected_seconds: float | None = None  # with a time budget: the whole run, as calibrated (over it: a warning)


def train_run(run_id: str, emit: Callable[[dict[str, Any]], None], started: float) -> dict[str, Any]:
    """Train the run described by its folder; returns the summary also written as the finish event."""
    job = Job(run_id, emit, started, TrainConfig.from_dict(read_config(run_id)), read_request(run_id), run_folder(run_id))
    with training_strategy().scope():  # every GPU found (mirrored); the CPU or the one GPU otherwise
        dataset, model, initial_epoch, checkpoint = prepare(job)
        train, validation = make_datasets(dataset, job.config, dataset.num_classes)
        plan, schedule = plan_training(job, model, dataset, train, validation, initial_epoch, checkpoint)
        if plan.calibration is not None:
            model, plan, schedule, train = long_run(job, dataset, model, plan, schedule, train, validation)
        if checkpoint is not None:
            restore_checkpoint(model, job.request["resume_from"], checkpoint)  # weights and optimizer state
        update_status(run_id, epochs=plan.epochs)
        emit(start_event(job, dataset, plan, initial_epoch))
        live = LiveMetrics(
            emit, stop_file=stop_file(run_id), checkpoint_folder=job.folder, schedule_start_epoch=plan.schedule_start_epoch,
            steps_per_epoch=plan.steps_per_epoch, batch_size=job.config.batch_size, train_images=len(dataset.y_train),
            last_epoch=initial_epoch + plan.epochs, clock_start=started, finish_seconds=plan.finish_seconds,
            config=job.config.to_dict(),
            # A safety net only, for a last epoch that runs late: past 105 % of the budget, stop with the best so far.
            deadline=None if plan.deadline is None else
            plan.deadline + BUDGET_OVERRUN * (job.config.time_budget_seconds or ceiling_seconds(job)),
        )
        fit(job, model, train, validation, live, plan, initial_epoch, schedule)
        return finish(job, model, dataset, live, initial_epoch)


def prepare(job: Job) -> tuple[Dataset, keras.Model, int, Checkpoint | None]:
    """1. The data and the model: (dataset, model, epochs already trained, the checkpoint of a run it resumes).

    A saved model's weights are copied now; a run's checkpoint is restored once the model is compiled.
    The model is built in the run's precision (`job.precision`, chosen here).
    """
    job.emit({"type": "loading", "data": job.request.get("data") or "cifar10"})
    dataset = load_request_data(job.request, job.config, job.emit)
    update_status(job.run_id, data_source=dataset.source)
    source, checkpoint = job.request.get("resume_from"), None
    if source and RUN_ID_PATTERN.match(source):
        check_resume_source(source)
        checkpoint = read_checkpoint(source)
    job.precision = run_precision(job, dataset, checkpoint)
    model = new_model(job, dataset, adapt=not source)  # a resumed run copies its whitening with the weights
    if not source:
        return dataset, model, 0, None
    if checkpoint is not None:
        return dataset, model, checkpoint.epoch, checkpoint
    source_model, initial_epoch = load_saved_model(source)
    copy_weights(source_model, model)
    return dataset, model, initial_epoch, None


def new_model(job: Job, dataset: Dataset, adapt: bool = True) -> keras.Model:
    """The run's network, seeded, in its precision (layers keep the policy they were built with); `adapt`: its
    whitening fitted to the training images."""
    keras.utils.set_random_seed(job.config.seed)
    with dtype_policy(job.precision.policy):
        model = build_model(job.config, num_classes=dataset.num_classes, for_training=True)
    if adapt:
        adapt_whitening(model, dataset.x_train, job.config)
    return model


def run_precision(job: Job, dataset: Dataset, checkpoint: Checkpoint | None) -> Precision:
    """A resumed run keeps its checkpoint's precision (its optimizer state has that shape); a new run lets
    cnn_core.training.precision decide, timing throwaway copies of its network only where bfloat16 could pay."""
    if checkpoint is not None:
        if checkpoint.precision not in POLICIES:  # a damaged checkpoint.json
            raise TrainingError("checkpoint_unreadable", run_id=job.request["resume_from"], reason="precision")
        return Precision(checkpoint.precision, "resumed")

    def build() -> keras.Model:
        return build_model(job.config, num_classes=dataset.num_classes, input_shape=dataset.x_train.shape[1:])

    return choose_precision(lambda policy: training_step_seconds(build, job.config.batch_size, policy))


def plan_training(job: Job, model: keras.Model, dataset: Dataset, train, validation, initial_epoch: int,
                  checkpoint: Checkpoint | None) -> tuple[Plan, WarmupDecaySchedule]:
    """2-3. Steps per execution from a speed probe; compile; with a time budget, fit the epoch count to it.

    Returns the plan and the compiled model's learning-rate schedule. A resumed run trains what its plan
    had left, on the schedule it started (its time budget is not re-planned).
    """
    config = job.config
    steps_per_epoch = math.ceil(len(dataset.y_train) / config.batch_size)
    plan = Plan(config.epochs, steps_per_epoch,
                steps_per_execution_for(estimate_step_seconds(model, config.batch_size), steps_per_epoch),
                schedule_start_epoch=initial_epoch)
    if checkpoint is not None:
        if checkpoint.steps_per_epoch != steps_per_epoch:  # other data or batch size: the schedule would not fit
            raise TrainingError("resume_steps_changed", before=checkpoint.steps_per_epoch, now=steps_per_epoch)
        plan.epochs = checkpoint.epochs_left
        plan.schedule_start_epoch, plan.schedule_steps = checkpoint.schedule_start_epoch, checkpoint.schedule_steps
    schedule = compile_model(model, config, steps_per_epoch, plan.epochs, plan.steps_per_execution,
                             total_steps=plan.schedule_steps)
    if checkpoint is None and (config.time_budget_seconds > 0 or ceiling_seconds(job)):
        fit_to_budget(job, model, dataset, train, validation, plan)
        resize_schedule(schedule, config, plan.epochs * steps_per_epoch)  # the traced step is kept: no retrace
    elif ceiling_seconds(job):  # a resumed run: the epochs its plan had left, stopped before the server's ceiling
        plan.deadline = job.started + (1 - UNCALIBRATED_FINISH_SHARE) * ceiling_seconds(job)
    return plan, schedule


UNCALIBRATED_FINISH_SHARE = 0.15  # of the ceiling, kept for scoring and saving by a resumed run (it is not timed)


def ceiling_seconds(job: Job) -> float:
    """The most seconds the server lets this run take (its request's `max_seconds`; 0: no ceiling). A ceiling, never a
    target: unlike a time budget, a run keeps the epochs it asked for unless they would not fit under it."""
    return float(job.request.get("max_seconds") or 0)


def fit_to_budget(job: Job, model: keras.Model, dataset: Dataset, train, validation, plan: Plan) -> None:
    """3. Calibrate on real steps, then set the plan's epochs and deadline so the whole run fits its time budget
    (as many epochs as fit), or its ceiling (the epochs it asked for, fewer only if they would not fit)."""
    config = job.config
    budget = config.time_budget_seconds or ceiling_seconds(job)
    job.emit({"type": "calibrating"})
    # Timing only (no score is kept): a run without a validation split times a pass over the test images.
    timed, timed_images = validation, len(dataset.y_val)
    if validation is None:
        timed = ordered_batches(dataset.x_test, dataset.y_test, config.batch_size, dataset.num_classes)
        timed_images = len(dataset.y_test)
    plan.calibration = calibrate(model, train, timed, plan.steps_per_execution, calibration_seconds_for(budget))
    seconds_per_image = plan.calibration.evaluation_seconds / max(timed_images, 1)
    plan.calibration.evaluation_seconds = seconds_per_image * len(dataset.y_val)  # one validation pass per epoch
    # The end: the final model is scored on the validation and the test split once each, then on the test split's
    # corrupted copies.
    plan.finish_seconds = finish_seconds_estimate(seconds_per_image * (len(dataset.y_val) + len(dataset.y_test)),
                                                  config.test_time_flip)
    plan.finish_seconds += robustness_seconds_estimate(seconds_per_image * len(dataset.y_test), len(dataset.y_test),
                                                       len(SUITE))
    elapsed = time.monotonic() - job.started
    cost = epoch_costs(config)
    most = 1000 if config.time_budget_seconds > 0 else config.epochs  # a budget is filled; a ceiling is not
    plan.epochs = epochs_for_budget(budget, elapsed, plan.calibration, plan.steps_per_epoch,
                                    finish_seconds=plan.finish_seconds, max_epochs=most, epoch_cost=cost)
    plan.deadline = job.started + budget - plan.finish_seconds  # when training should end (BudgetKeeper plans for it)
    # Over the budget only when not even one epoch fits (a slow machine, a tiny budget): the start event says so.
    plan.expected_seconds = (elapsed + training_seconds(plan.calibration, plan.steps_per_epoch, plan.epochs, cost)
                             + plan.finish_seconds)


def long_run(job: Job, dataset: Dataset, model: keras.Model, plan: Plan, schedule: WarmupDecaySchedule, train,
             validation) -> tuple[keras.Model, Plan, WarmupDecaySchedule, Any]:
    """3b. What a budget holding many times the config's epochs of the network asked for trains with
    (cnn_core.training.pacing): a wider network, built and calibrated anew for the time left (never for a resumed run:
    it keeps its weights), and mixup. job.config then holds what the run trains (its checkpoints keep it, so a resumed
    run rebuilds this network and pipeline); config.json keeps what was asked."""
    long = plan.epochs  # what the budget holds of the asked network: both decisions read this one number
    # A run with a ceiling was queued by a shared server (queue.capped): its cost limits bound the wider network too.
    wider = None if job.request.get("resume_from") else widened_for_long_run(job.config, long, dataset.num_classes,
                                                                             shared_server=ceiling_seconds(job) > 0)
    if wider is not None:
        job.config, job.widened_from = wider, job.config.filters
        model = new_model(job, dataset)
        plan, schedule = plan_training(job, model, dataset, train, validation, 0, None)
    if use_long_run_mixup(job.config, long):
        # Mixup's batches are float32, as camera augmentations' already are: the calibrated trace is kept.
        train, _ = make_datasets(dataset, job.config, dataset.num_classes)
    return model, plan, schedule, train


def use_long_run_mixup(config: TrainConfig, planned_epochs: int) -> bool:
    """Turn mixup on (config.mixup_alpha) for a budget that holds far more epochs than the config's; True if it did."""
    alpha = long_run_mixup(config.mixup_alpha, config.long_run_mixup_alpha, config.epochs, planned_epochs)
    changed, config.mixup_alpha = alpha != config.mixup_alpha, alpha
    return changed


def epoch_costs(config: TrainConfig) -> EpochCost | None:
    """The planner's cost of each epoch: progressive resizing's shrunk epochs cost less; None: all the same."""
    return epoch_cost if config.progressive_resizing else None


def start_event(job: Job, dataset: Dataset, plan: Plan, initial_epoch: int) -> dict[str, Any]:
    """The "start" event: what the run is about to do (format in cnn_core.training.launch)."""
    return {
        "type": "start", "epochs": plan.epochs, "initial_epoch": initial_epoch, "steps_per_epoch": plan.steps_per_epoch,
        "steps_per_execution": plan.steps_per_execution, "batch_size": job.config.batch_size,
        "train_images": len(dataset.y_train), "validation_images": len(dataset.y_val),
        "test_images": len(dataset.y_test), "class_names": dataset.class_names, "data_source": dataset.source,
        "time_budget_seconds": job.config.time_budget_seconds, "resumed_from": job.request.get("resume_from"),
        "max_seconds": ceiling_seconds(job) or None, "asked_epochs": job.config.epochs,
        "progressive_resizing": job.config.progressive_resizing, "mixup_alpha": job.config.mixup_alpha,
        "filters": job.config.filters, "weight_decay": job.config.weight_decay, "widened_from": job.widened_from,
        "calibration": None if plan.calibration is None else vars(plan.calibration),
        "expected_seconds": plan.expected_seconds,
        "devices": describe_devices(), "precision": job.precision.policy, "precision_reason": job.precision.reason,
        "precision_speedup": job.precision.speedup,
        "elapsed": time.monotonic() - job.started,
    }


def fit(job: Job, model: keras.Model, train, validation, live: LiveMetrics, plan: Plan, initial_epoch: int,
        schedule: WarmupDecaySchedule) -> None:
    """4. `model.fit` with the live metrics (and, with a time budget, the BudgetKeeper that re-plans)."""
    callbacks: list[keras.callbacks.Callback] = [live]
    if job.config.progressive_resizing:  # live.last_epoch follows the plan when a time budget re-plans it
        callbacks.append(ProgressiveResizing(model.input_shape[1], plan.schedule_start_epoch, lambda: live.last_epoch))
    if validation is not None:  # the epoch scrubber's records: on validation images (test is scored once, at the end)
        callbacks.append(snapshot_callback(job.folder, validation))
    fit_last_epoch = initial_epoch + plan.epochs
    if plan.calibration is not None:
        def replan(last_epoch: int) -> None:
            live.last_epoch = last_epoch
            update_status(job.run_id, epochs=last_epoch - initial_epoch)
            job.emit({"type": "replan", "epochs": last_epoch - initial_epoch, "elapsed": time.monotonic() - job.started})

        # A time budget has room to grow if the machine speeds up. Under a ceiling a run planned shorter than it asked
        # (the first plan is cautious: a tiny network's epochs ran 4x faster than planned) grows back, never past it.
        grow = job.config.time_budget_seconds > 0
        fit_last_epoch = initial_epoch + (min(2 * plan.epochs + 2, 1000) if grow else job.config.epochs)
        callbacks.append(BudgetKeeper(
            resize=lambda total_steps: resize_schedule(schedule, job.config, total_steps), deadline=plan.deadline,
            steps_per_epoch=plan.steps_per_epoch, initial_epoch=initial_epoch, last_epoch=initial_epoch + plan.epochs,
            max_last_epoch=fit_last_epoch, on_replan=replan, epoch_cost=epoch_costs(job.config),
            fixed_seconds=plan.calibration.evaluation_seconds + EPOCH_OVERHEAD_SECONDS,
        ))
    callbacks.append(TensorBoardLogs(job.folder / "tensorboard"))
    if stop_file(job.run_id).exists():
        live.stop_reason = "user"  # stopped while loading or calibrating: nothing to train
    else:
        try:
            # One endless pass cut into epochs: with a fresh pass per epoch, each epoch's first execution after the
            # validation pass took ~2.5 s instead of ~0.35 s here (TensorFlow 2.21, Keras 3.15).
            model.fit(
                train.repeat(), steps_per_epoch=plan.steps_per_epoch, validation_data=validation,
                epochs=fit_last_epoch, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0,
                shuffle=False,  # make_datasets shuffles (anew each pass)
            )
        except BaseException:
            # Interrupted or failed: the best epoch so far may still be held back by the checkpoint
            # throttle; put it on disk so that resuming loses nothing (unless the disk is the problem).
            with contextlib.suppress(Exception):
                live.flush_checkpoint()
            raise
    live.flush_checkpoint()


def finish(job: Job, model: keras.Model, dataset: Dataset, live: LiveMetrics, initial_epoch: int) -> dict[str, Any]:
    """5. Keep the final weights (the best epoch if cut short), score the test split, save, report."""
    user_stopped = live.stop_reason == "user"
    if user_stopped:
        job.emit({"type": "stopped", "reason": "user", "epochs_completed": live.epochs_completed})
    summary: dict[str, Any] = {
        "run_id": job.run_id, "state": "stopped" if user_stopped else "finished",
        "model_name": job.request["model_name"], "model_saved": False, "epochs_completed": live.epochs_completed,
        "best_epoch": live.best_epoch, "test_accuracy": None,
        "images_per_second": _throughput(live, len(dataset.y_train)), "stopped_by": live.stop_reason,
    }
    if live.best_weights is None:
        summary["seconds"] = time.monotonic() - job.started
        update_status(job.run_id, state=summary["state"], ended=now_iso(), model_saved=False, epochs_completed=0)
        return summary
    # A run that completed its schedule keeps its final weights: the schedule has annealed them. A run cut short
    # (Stop, or a hard time-budget stop) keeps its best epoch *by validation accuracy* instead of a half-annealed
    # last one. Either way the choice is made before the test split is looked at, and the test split is then
    # scored once, on that one model.
    if live.stop_reason is not None:
        model.set_weights(live.best_weights)
    model = saved_form(model, job.config)
    job.emit({"type": "evaluating"})
    flip, forward = job.config.test_time_flip, traced_forward(model)  # one trace for both splits
    validation_accuracy = (evaluate_model(model, dataset.x_val, dataset.y_val, dataset.class_names, flip, forward)
                           ["accuracy"] if len(dataset.y_val) else None)
    scores = evaluate_model(model, dataset.x_test, dataset.y_test, dataset.class_names, flip, forward)
    scores["validation_accuracy"] = validation_accuracy
    scores["robustness"] = robustness_on_test_split(model, dataset, forward)
    np.savez(
        job.folder / "predictions.npz", labels=dataset.y_test, predictions=scores["predictions"],
        probabilities=scores["probabilities"].astype(np.float16),
    )
    summary.update(test_accuracy=scores["accuracy"], per_class_accuracy=scores["per_class_accuracy"],
                   validation_accuracy=validation_accuracy)
    job.emit({"type": "saving"})
    save_model(model, job.request["model_name"], model_metadata(job, dataset, scores, summary, initial_epoch, live))
    if not user_stopped and live.stop_reason is None:
        remove_checkpoint(job.run_id)  # the schedule is complete and the model saved: nothing left to resume
    summary.update(model_saved=True, seconds=time.monotonic() - job.started)
    job.emit({
        "type": "finish", "test_accuracy": scores["accuracy"], "validation_accuracy": validation_accuracy,
        "per_class_accuracy": scores["per_class_accuracy"],
        "confusion_matrix": scores["confusion_matrix"], "seconds": summary["seconds"],
        "model_name": job.request["model_name"], "epochs_completed": live.epochs_completed,
        "best_epoch": live.best_epoch, "images_per_second": summary["images_per_second"],
    })
    update_status(job.run_id, state=summary["state"], ended=now_iso(), test_accuracy=scores["accuracy"],
                  model_saved=True, epochs_completed=live.epochs_completed)
    return summary


def robustness_on_test_split(model: keras.Model, dataset: Dataset, forward: Callable) -> dict[str, float]:
    """The corruption suite on the test split with the model that is kept (test-time flip off, as `robustness`)."""
    return corruption_accuracy(model, dataset.x_test, dataset.y_test,
                               predict=lambda images: predict_probabilities(model, images, False, forward=forward))


def saved_form(model: keras.Model, config: TrainConfig) -> keras.Model:
    """The model to score and save: the same weights in a float32 network (a mixed-precision run's weights are
    float32 already, so it runs anywhere at full speed) without progressive resizing's training-only layer."""
    if not config.progressive_resizing and model.dtype_policy.name == "float32":
        return model
    with dtype_policy("float32"):
        plain = build_model(config, num_classes=model.output_shape[-1], input_shape=model.input_shape[1:])
    copy_weights(model, plain)
    return plain


def model_metadata(job: Job, dataset: Dataset, scores: dict[str, Any], summary: dict[str, Any], initial_epoch: int,
                   live: LiveMetrics) -> dict[str, Any]:
    """The registry's metadata.json for the trained model: where it came from, how it trained, how it scored."""
    return {
        "name": job.request["model_name"], "config": job.config.to_dict(), "class_names": dataset.class_names,
        "dataset": dataset.source, "dataset_about": i18n.message_record(dataset.about),
        "train_images": len(dataset.y_train), "validation_images": len(dataset.y_val),
        "test_images": len(dataset.y_test), "validation_accuracy": scores["validation_accuracy"],
        "test_accuracy": scores["accuracy"], "per_class_accuracy": scores["per_class_accuracy"],
        "confusion_matrix": stored_confusion(scores["confusion_matrix"]), "history": history(job.run_id),
        "created": now_iso(), "precision": job.precision.policy,
        "training_seconds": time.monotonic() - job.started, "keras_version": keras.__version__, "run_id": job.run_id,
        "epochs_trained": initial_epoch + live.epochs_completed, "best_epoch": live.best_epoch,
        "resumed_from": job.request.get("resume_from"), "images_per_second": summary["images_per_second"],
        "stopped_by": live.stop_reason, "owner": job.request.get("owner"), "robustness": scores.get("robustness"),
    }


def _throughput(live: LiveMetrics, train_images: int) -> float | None:
    """Training images per second over the finished epochs (validation time excluded)."""
    seconds = sum(live.train_seconds)
    return train_images * len(live.train_seconds) / seconds if seconds > 0 else None

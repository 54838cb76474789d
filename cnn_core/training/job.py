"""The body of one training run, from its request to a saved model: cnn_core.training.launch calls `train_run`.

The story of a run:
1. load the data (downloading CIFAR-10 if asked) and build the model, copying weights when resuming;
2. pick `steps_per_execution` from a quick speed probe (see cnn_core.training.pacing);
3. with a time budget, calibrate on real steps and choose the epoch count that fits, so the learning-rate
   schedule spans the whole budget (re-planned at epoch ends if the machine's speed changes);
4. fit, streaming events through LiveMetrics (which also honours Stop and keeps the best weights);
5. keep the final weights (the best epoch if stopped early), score the test split, save, report.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from cnn_core import i18n
from cnn_core.datasets.base import Dataset
from cnn_core.datasets.loading import load_dataset
from cnn_core.models.registry import save_model
from cnn_core.training.config import TrainConfig
from cnn_core.training.devices import describe_devices, training_strategy
from cnn_core.training.evaluation import evaluate_model
from cnn_core.training.live_metrics import LiveMetrics
from cnn_core.training.model import build_model, compile_model, make_datasets
from cnn_core.training.pacing import (
    BudgetKeeper,
    Calibration,
    calibrate,
    calibration_seconds_for,
    epochs_for_budget,
    estimate_step_seconds,
    finish_seconds_estimate,
    steps_per_execution_for,
)
from cnn_core.training.resume import copy_weights, load_resume_source
from cnn_core.training.runs import (
    TrainingError,
    history,
    now_iso,
    read_config,
    read_request,
    run_folder,
    stop_file,
    update_status,
)

DOWNLOAD_EVENT_SECONDS = 0.5
BUDGET_OVERRUN = 0.05  # a time-budgeted run is cut short only when it would overrun its budget by this share


def load_request_data(request: dict[str, Any], config: TrainConfig, emit: Callable | None = None) -> Dataset:
    """The run's dataset, cut to `max_images` per split when the request asks for it."""
    last_report = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if emit is not None and (now - last_report[0] >= DOWNLOAD_EVENT_SECONDS or done == total):
            last_report[0] = now
            emit({"type": "loading", "data": request.get("data") or "cifar10", "bytes_done": done, "bytes_total": total})

    dataset = load_dataset(request.get("data"), progress=progress, seed=config.seed)
    limit = request.get("max_images")
    if limit:
        dataset.x_train, dataset.y_train = dataset.x_train[:limit], dataset.y_train[:limit]
        dataset.x_test, dataset.y_test = dataset.x_test[:limit], dataset.y_test[:limit]
        dataset.about = i18n.Message("datasets.first_images", {"source": dataset.about, "limit": limit})
    if len(dataset.y_train) == 0 or len(dataset.y_test) == 0:
        raise TrainingError("empty_split", source=dataset.about)
    if dataset.num_classes < 2:
        raise TrainingError("one_class", source=dataset.about)
    config.validate(num_classes=dataset.num_classes)  # the output layer grows with the class count
    return dataset


@dataclass
class Job:
    """What every step of a run needs: its id, where events go, when its clock started, its settings."""

    run_id: str
    emit: Callable[[dict[str, Any]], None]
    started: float  # time.monotonic() when the time budget began
    config: TrainConfig
    request: dict[str, Any]
    folder: Path


@dataclass
class Plan:
    """How long the run trains: epochs, steps, and (with a time budget) when training must end."""

    epochs: int
    steps_per_epoch: int
    steps_per_execution: int
    deadline: float | None = None  # time.monotonic() by which training should end
    finish_seconds: float = 0.0  # expected time for evaluation and saving after the last epoch
    calibration: Calibration | None = None


def train_run(run_id: str, emit: Callable[[dict[str, Any]], None], started: float) -> dict[str, Any]:
    """Train the run described by its folder; returns the summary also written as the finish event."""
    job = Job(run_id, emit, started, TrainConfig.from_dict(read_config(run_id)), read_request(run_id), run_folder(run_id))
    with training_strategy().scope():  # every GPU found (mirrored); the CPU or the one GPU otherwise
        dataset, model, initial_epoch = prepare(job)
        train, test = make_datasets(dataset, job.config, dataset.num_classes)
        plan = plan_training(job, model, len(dataset.y_train), train, test)
        compile_model(model, job.config, plan.steps_per_epoch, plan.epochs, plan.steps_per_execution)
        update_status(run_id, epochs=plan.epochs)
        emit(start_event(job, dataset, plan, initial_epoch))
        live = LiveMetrics(
            emit, stop_file=stop_file(run_id), checkpoint_path=job.folder / "checkpoint.keras",
            steps_per_epoch=plan.steps_per_epoch, batch_size=job.config.batch_size, train_images=len(dataset.y_train),
            last_epoch=initial_epoch + plan.epochs, clock_start=started, finish_seconds=plan.finish_seconds,
            # A safety net only, for a last epoch that runs late: past 105 % of the budget, stop with the best so far.
            deadline=None if plan.deadline is None else plan.deadline + BUDGET_OVERRUN * job.config.time_budget_seconds,
        )
        fit(job, model, train, test, live, plan, initial_epoch)
        return finish(job, model, dataset, live, initial_epoch)


def prepare(job: Job) -> tuple[Dataset, keras.Model, int]:
    """1. The data and the model (with the weights it resumes from): (dataset, model, epochs already trained)."""
    job.emit({"type": "loading", "data": job.request.get("data") or "cifar10"})
    dataset = load_request_data(job.request, job.config, job.emit)
    update_status(job.run_id, data_source=dataset.source)
    keras.utils.set_random_seed(job.config.seed)
    model = build_model(job.config, num_classes=dataset.num_classes)
    initial_epoch = 0
    if job.request.get("resume_from"):
        source_model, initial_epoch = load_resume_source(job.request["resume_from"])
        copy_weights(source_model, model)
    return dataset, model, initial_epoch


def plan_training(job: Job, model: keras.Model, train_images: int, train, test) -> Plan:
    """2-3. Steps per execution from a speed probe; with a time budget, calibrate and fit the epoch count to it."""
    config = job.config
    steps_per_epoch = math.ceil(train_images / config.batch_size)
    plan = Plan(config.epochs, steps_per_epoch,
                steps_per_execution_for(estimate_step_seconds(model, config.batch_size), steps_per_epoch))
    budget = config.time_budget_seconds
    if budget <= 0:
        return plan
    compile_model(model, config, steps_per_epoch, 1, plan.steps_per_execution)
    plan.calibration = calibrate(model, train, test, plan.steps_per_execution, calibration_seconds_for(budget))
    plan.epochs = epochs_for_budget(budget, time.monotonic() - job.started, plan.calibration, steps_per_epoch,
                                    config.test_time_flip)
    plan.steps_per_execution = steps_per_execution_for(plan.calibration.step_seconds, steps_per_epoch)
    plan.finish_seconds = finish_seconds_estimate(plan.calibration.evaluation_seconds, config.test_time_flip)
    plan.deadline = job.started + budget - plan.finish_seconds  # when training should end (BudgetKeeper plans for it)
    return plan


def start_event(job: Job, dataset: Dataset, plan: Plan, initial_epoch: int) -> dict[str, Any]:
    """The "start" event: what the run is about to do (format in cnn_core.training.launch)."""
    return {
        "type": "start", "epochs": plan.epochs, "initial_epoch": initial_epoch, "steps_per_epoch": plan.steps_per_epoch,
        "steps_per_execution": plan.steps_per_execution, "batch_size": job.config.batch_size,
        "train_images": len(dataset.y_train), "test_images": len(dataset.y_test),
        "class_names": dataset.class_names, "data_source": dataset.source,
        "time_budget_seconds": job.config.time_budget_seconds, "resumed_from": job.request.get("resume_from"),
        "calibration": None if plan.calibration is None else vars(plan.calibration),
        "devices": describe_devices(),
        "elapsed": time.monotonic() - job.started,
    }


def fit(job: Job, model: keras.Model, train, test, live: LiveMetrics, plan: Plan, initial_epoch: int) -> None:
    """4. `model.fit` with the live metrics (and, with a time budget, the BudgetKeeper that re-plans)."""
    callbacks: list[keras.callbacks.Callback] = [live]
    fit_last_epoch = initial_epoch + plan.epochs
    if plan.calibration is not None:
        def replan(last_epoch: int) -> None:
            live.last_epoch = last_epoch
            update_status(job.run_id, epochs=last_epoch - initial_epoch)
            job.emit({"type": "replan", "epochs": last_epoch - initial_epoch, "elapsed": time.monotonic() - job.started})

        fit_last_epoch = initial_epoch + min(2 * plan.epochs + 2, 1000)  # room to grow if the machine speeds up
        callbacks.append(BudgetKeeper(
            config=job.config, deadline=plan.deadline, steps_per_epoch=plan.steps_per_epoch, initial_epoch=initial_epoch,
            last_epoch=initial_epoch + plan.epochs, max_last_epoch=fit_last_epoch,
            retrace_seconds=plan.calibration.trace_seconds, on_replan=replan,
        ))
    if job.request.get("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(job.folder / "tensorboard"), write_graph=False))
    if stop_file(job.run_id).exists():
        live.stop_reason = "user"  # stopped while loading or calibrating: nothing to train
    else:
        try:
            model.fit(
                train, validation_data=test, epochs=fit_last_epoch, initial_epoch=initial_epoch,
                callbacks=callbacks, verbose=0, shuffle=False,  # make_datasets shuffles
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
    # A run that completed its schedule keeps its final weights: the schedule has annealed them, and picking
    # the epoch that scored best on the test split would quietly tune on the test split. A run cut short
    # (Stop, or a hard time-budget stop) keeps its best epoch instead of a half-annealed last one.
    if live.stop_reason is not None:
        model.set_weights(live.best_weights)
    job.emit({"type": "evaluating"})
    scores = evaluate_model(model, dataset.x_test, dataset.y_test, dataset.class_names, job.config.test_time_flip)
    np.savez(
        job.folder / "predictions.npz", labels=dataset.y_test, predictions=scores["predictions"],
        probabilities=scores["probabilities"].astype(np.float16),
    )
    summary.update(test_accuracy=scores["accuracy"], per_class_accuracy=scores["per_class_accuracy"])
    save_model(model, job.request["model_name"], model_metadata(job, dataset, scores, summary, initial_epoch, live))
    summary.update(model_saved=True, seconds=time.monotonic() - job.started)
    job.emit({
        "type": "finish", "test_accuracy": scores["accuracy"], "per_class_accuracy": scores["per_class_accuracy"],
        "confusion_matrix": scores["confusion_matrix"], "seconds": summary["seconds"],
        "model_name": job.request["model_name"], "epochs_completed": live.epochs_completed,
        "best_epoch": live.best_epoch, "images_per_second": summary["images_per_second"],
    })
    update_status(job.run_id, state=summary["state"], ended=now_iso(), test_accuracy=scores["accuracy"],
                  model_saved=True, epochs_completed=live.epochs_completed)
    return summary


def model_metadata(job: Job, dataset: Dataset, scores: dict[str, Any], summary: dict[str, Any], initial_epoch: int,
                   live: LiveMetrics) -> dict[str, Any]:
    """The registry's metadata.json for the trained model: where it came from, how it trained, how it scored."""
    return {
        "name": job.request["model_name"], "config": job.config.to_dict(), "class_names": dataset.class_names,
        "dataset": dataset.source, "dataset_about": i18n.message_record(dataset.about),
        "train_images": len(dataset.y_train), "test_images": len(dataset.y_test),
        "test_accuracy": scores["accuracy"], "per_class_accuracy": scores["per_class_accuracy"],
        "confusion_matrix": scores["confusion_matrix"], "history": history(job.run_id), "created": now_iso(),
        "training_seconds": time.monotonic() - job.started, "keras_version": keras.__version__, "run_id": job.run_id,
        "epochs_trained": initial_epoch + live.epochs_completed, "best_epoch": live.best_epoch,
        "resumed_from": job.request.get("resume_from"), "images_per_second": summary["images_per_second"],
        "stopped_by": live.stop_reason, "owner": job.request.get("owner"),
    }


def _throughput(live: LiveMetrics, train_images: int) -> float | None:
    """Training images per second over the finished epochs (validation time excluded)."""
    seconds = sum(live.train_seconds)
    return train_images * len(live.train_seconds) / seconds if seconds > 0 else None

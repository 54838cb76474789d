"""Not a page: starting runs and showing them, live while they train and as a report once they end.

Training never runs in a script run: `cnn_core.training.launch` starts a separate process and these functions
only read what it writes (runs/<id>/status.json and events.jsonl). The live view is a fragment that
re-reads those files every second; Stop only touches the run's STOP file.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from app_pages import training_queue
from app_pages.epoch_scrubber import scrubber_section
from app_pages.guard import guarded
from app_pages.identity import visitor
from app_pages.language import class_label, current_language, error_text, recorded_text, t
from cnn_core import i18n
from cnn_core.datasets.base import DataError
from cnn_core.models import registry
from cnn_core.server import settings
from cnn_core.server.owners import may_manage, may_see_report
from cnn_core.training import figures, launch, resume, runs, view
from cnn_core.training.config import TrainConfig

POLL_SECONDS = 1.0
LIVE_STATES = ("starting", "running")
RESUMABLE_STATES = ("interrupted", "failed", "stopped")  # ended before their plan did: resume where they left off
STATE_ICONS = {
    "starting": "⏳", "running": "⏳", "finished": "✅", "stopped": "⏹️", "failed": "❌", "interrupted": "⚠️",
    "queued": "🕒", "cancelled": "🚫",
}
GALLERY_SIZE = 40


def state_name(state: str) -> str:
    """A run state with its icon, in the page's language ("✅ finished")."""
    return f"{STATE_ICONS.get(state, '')} {t(f'training.states.{state}')}"


@st.cache_data(max_entries=2, show_spinner=False)
def run_test_images(run_id: str) -> np.ndarray:
    """The test images a finished run was scored on (a run's data never changes: keyed by its id)."""
    return launch.run_dataset(run_id).x_test


def run_events(run_id: str) -> list[dict]:
    """All events of a run so far; this session reads only the new lines each time."""
    events = st.session_state.setdefault("run_events", {}).setdefault(run_id, [])
    events.extend(runs.read_events(run_id, since=len(events)))
    return events


def busy_message(run_id: str) -> str:
    status = runs.read_status(run_id)
    started = view.short_time(status.get("started") or status.get("created"))
    return t("training.train.busy", model=status.get("model_name"), run=run_id, started=started)


# --- 4 · Train. ---


def train_section(config: TrainConfig | None, spec: str | None, problem: str | None) -> None:
    """Model name, Train button (disabled with a reason), then the current run live or its results."""
    st.subheader(t("training.train.heading"))
    active = runs.active_run()
    st.session_state.setdefault("model_name", "my-cnn")
    typed = st.text_input(t("training.train.model_name"), key="model_name", persist_state="session")
    try:
        name = registry.sanitize_name(typed)
        if name != typed:
            st.caption(t("training.train.saved_as", name=name))
    except registry.RegistryError as error:
        name, problem = "", problem or error_text(error)
    if problem and config is not None:
        st.warning(problem)
    # Train always accepts: the run joins the server's queue (training_queue) and starts when a slot frees.
    if st.button(t("training.train.button"), type="primary", key="train", disabled=bool(problem or config is None)):
        if start(config, spec, name):
            st.rerun()  # from the top: the flash message and the queued or live view
    shown = st.session_state.get("run_id") or (None if settings.public_mode() else active)
    if shown:
        show_run(shown, "current")


def start(config: TrainConfig, spec: str | None, name: str, resume_from: str | None = None) -> bool:
    """Queue a run and follow it on the training page; a full queue or bad request gets a message."""
    run_id = training_queue.submit(config, spec, name, resume_from=resume_from)
    if run_id is None:
        return False
    st.session_state["run_id"], st.session_state["flash"] = run_id, t("training.queue.queued", run=run_id)
    return True


def show_run(run_id: str, place: str) -> None:
    """A run: live (polling) while it trains, its charts and results once it has ended."""
    try:
        status = runs.read_status(run_id)
    except runs.RunNotFoundError:  # deleted meanwhile (another tab, or by hand): nothing to follow
        st.session_state.pop("run_id", None)
        return
    if status["state"] == "queued":
        training_queue.queued_view(run_id, place)
    elif not may_see_report(status, visitor()):
        st.info(t("training.runs.private"))  # public mode: images, classes and settings are the owner's
    elif status["state"] in LIVE_STATES:
        live_view(run_id, place)
    else:
        run_report(run_id, place, status)


@st.fragment(run_every=POLL_SECONDS)
@guarded
def live_view(run_id: str, place: str) -> None:
    """Re-drawn every second from the run's files; the whole page reruns once the run has ended."""
    status, events = runs.read_status(run_id), run_events(run_id)
    if status["state"] not in LIVE_STATES:
        st.rerun()  # show the final report (and stop polling)
    numbers = figures.progress_numbers(status, events)
    phase_status(events)
    label = t("training.live.progress", model=status.get("model_name"), epoch=numbers["epoch"],
              last=numbers["last_epoch"])
    st.progress(numbers["fraction"], label)
    language = current_language()
    a, b, c, d = st.columns(4)
    a.metric(t("training.live.images_per_second"), f"{numbers['images_per_second']:,.0f}")
    b.metric(t("training.live.elapsed"), figures.format_seconds(numbers["elapsed"], language=language))
    c.metric(t("training.live.eta"), figures.format_seconds(numbers["eta"], language=language))
    # A callback runs before the fragment re-draws, so the button is already disabled when it comes back.
    stopping = runs.stop_file(run_id).exists()
    if may_manage(status, visitor()):
        d.button(t("training.live.stop"), key=f"stop_{place}", disabled=stopping, on_click=stop, args=(run_id,))
    if stopping:
        st.info(t("training.live.stopping"))
    run_charts(run_id, events, place)


def phase_status(events: list[dict]) -> None:
    """Where the run is (loading, calibrating, training, evaluating, saving), with the loading's own progress."""
    phase = figures.run_phase(events)
    last = events[-1] if events else {}
    with st.status(t(f"training.live.phase.{phase}"), state="running", expanded=phase == "loading"):
        for step in figures.PHASES[: figures.PHASES.index(phase)]:
            st.write(f"✅ {t(f'training.live.phase.{step}')}")
        if last.get("type") == "loading" and last.get("bytes_total"):
            done, total = last["bytes_done"], last["bytes_total"]
            st.progress(done / total, t("training.live.download_progress", done=done / 1e6, total=total / 1e6))
        elif last.get("type") == "loading" and last.get("images_total"):
            done, total = last["images_done"], last["images_total"]
            st.progress(done / total, t("training.live.decode_progress", done=done, total=total))
        elif phase == "loading":
            st.write(t("training.live.starting"))


def stop(run_id: str) -> None:
    """Stop button callback: the owner's or an admin's only, checked again against the run's record."""
    if may_manage(runs.read_status(run_id), visitor()):
        runs.request_stop(run_id)


def run_charts(run_id: str, events: list[dict], place: str) -> None:
    """Batch and epoch charts, their x axes spanning the whole run so that a live chart shows what is left."""
    numbers = figures.progress_numbers({}, events)
    span = (numbers["first_epoch"], numbers["last_epoch"])
    batches = [event for event in events if event["type"] == "batch"]
    epochs = [event for event in events if event["type"] == "epoch"]
    language = current_language()
    if batches:
        figure = figures.batch_figure(batches, numbers["steps_per_epoch"], span, language=language)
        st.plotly_chart(figure, key=f"batches_{place}_{run_id}")
    if epochs:
        st.plotly_chart(figures.epoch_figure(epochs, span, language=language), key=f"epochs_{place}_{run_id}")
        with st.expander(t("probes.legend.epochs")):
            st.dataframe(figures.epoch_table(epochs, language=language), hide_index=True)


# --- A run that has ended. ---


def failure_text(status: dict) -> str:
    """Why a run failed, in the reader's language when the training process recorded the table key."""
    record = {"key": status.get("error_key"), "values": status.get("error_values") or {}}
    return recorded_text(record, status["error"])  # else (another version's tables, say) the English words


def run_report(run_id: str, place: str, status: dict) -> None:
    """Charts, test results, confusion matrix with its images, misclassified gallery, downloads."""
    events = run_events(run_id)
    st.markdown(t("training.report.title", state=state_name(status["state"]), model=status.get("model_name"),
                  run=run_id))
    if status["state"] == "interrupted":
        st.warning(t("training.report.interrupted"))  # the process died: its own words are not the user's
    elif status.get("error"):
        st.error(t("training.report.failed", error=failure_text(status)))
    allowed = may_manage(status, visitor())
    checkpoint = resume.read_checkpoint(run_id) if status["state"] in RESUMABLE_STATES and allowed else None
    if checkpoint is not None:
        resume_button(run_id, status, checkpoint, place)
    run_charts(run_id, events, place)
    scrubber_section(run_id, place, events)
    downloads(run_id, place, allowed)
    finish = next((event for event in events if event["type"] == "finish"), None)
    if finish is None:
        return
    left, right = st.columns(2)
    left.metric(t("training.report.test_accuracy"), f"{finish['test_accuracy']:.1%}")
    if finish.get("validation_accuracy") is not None:
        right.metric(t("training.report.validation_accuracy"), f"{finish['validation_accuracy']:.1%}")
    figure = figures.per_class_figure(finish["per_class_accuracy"], language=current_language())
    st.plotly_chart(figure, key=f"per_class_{place}_{run_id}")
    st.caption(t("probes.legend.top_k", values=" · ".join(  # the chart's numbers as text
        f"{class_label(name)} {'—' if value is None else f'{value:.0%}'}" for name, value in finish["per_class_accuracy"].items())))
    confusion_explorer(run_id, place, finish["confusion_matrix"], list(finish["per_class_accuracy"]))


def downloads(run_id: str, place: str, may_delete: bool) -> None:
    """The run's history, settings and TensorBoard logs as files, and deleting the run (its owner or a teacher,
    after a second click)."""
    a, b, c, d = st.columns(4)
    a.download_button(t("training.report.download_csv"), lambda: runs.history_csv(run_id),
                      f"{run_id}-history.csv", "text/csv", key=f"csv_{place}_{run_id}", on_click="ignore")
    b.download_button(t("training.report.download_config"), lambda: json.dumps(runs.read_config(run_id), indent=2),
                      f"{run_id}-config.json", "application/json", key=f"config_{place}_{run_id}", on_click="ignore")
    c.download_button(t("training.report.download_tensorboard"), lambda: runs.tensorboard_zip(run_id),
                      f"{run_id}-tensorboard.zip", "application/zip", key=f"tensorboard_{place}_{run_id}",
                      on_click="ignore", help=t("training.report.tensorboard_help"))
    if may_delete and d.button(t("training.report.delete"), key=f"delete_{place}_{run_id}"):
        st.session_state["confirm_delete_run"] = run_id
    if may_delete and st.session_state.get("confirm_delete_run") == run_id:
        confirm_delete(run_id, place)


def confirm_delete(run_id: str, place: str) -> None:
    """Delete the run's folder (its saved model stays) once the visitor confirms."""
    st.warning(t("training.report.confirm_delete", run=run_id))
    yes, no = st.columns(2)
    if yes.button(t("training.report.yes_delete"), key=f"delete_yes_{place}_{run_id}"):
        try:
            runs.delete_run(run_id)
        except (runs.BusyError, runs.RunNotFoundError, OSError) as error:
            st.warning(error_text(error))
        st.session_state.pop("confirm_delete_run", None)
        if st.session_state.get("run_id") == run_id:
            st.session_state.pop("run_id")
        st.rerun()
    if no.button(t("training.report.cancel_delete"), key=f"delete_no_{place}_{run_id}"):
        st.session_state.pop("confirm_delete_run", None)
        st.rerun()


def resume_button(run_id: str, status: dict, checkpoint: resume.Checkpoint, place: str) -> None:
    """Resume a run from its checkpoint: the epochs its plan had left, on the same schedule and optimizer state."""
    left = max(checkpoint.last_epoch - checkpoint.epoch, 1)
    if st.button(t("training.report.resume", epochs=left), key=f"resume_{place}_{run_id}"):
        config = TrainConfig.from_dict({**runs.read_config(run_id), "epochs": left, "time_budget_seconds": 0.0})
        data = runs.read_request(run_id).get("data")
        if start(config, data, status.get("model_name") or "my-cnn", resume_from=run_id):
            st.rerun()


def confusion_explorer(run_id: str, place: str, matrix: list[list[int]], class_names: list[str]) -> None:
    """Heatmap whose cells (clicked or chosen) show the test images behind them, then the mistakes."""
    key, language = f"{place}_{run_id}", current_language()
    event = st.plotly_chart(figures.confusion_figure(matrix, class_names, language=language),
                            key=f"confusion_{key}", on_select="rerun", selection_mode="points")
    points = event.selection.points if event else []
    cell = figures.confusion_cell(points[0], class_names, language=language) if points else None
    if cell and points[0] != st.session_state.get(f"clicked_{key}"):
        st.session_state[f"clicked_{key}"] = points[0]  # a new click moves the two selectboxes below
        st.session_state[f"true_{key}"], st.session_state[f"predicted_{key}"] = cell
    results = launch.test_predictions(run_id)
    try:
        with st.spinner(t("training.report.loading_images")):
            images = run_test_images(run_id) if results is not None else None
    except (DataError, OSError):
        images = None
    if images is None or len(images) != len(results["labels"]):
        st.caption(t("training.report.no_predictions"))
        return
    labels, predictions = results["labels"], results["predictions"]
    st.caption(t("training.report.pick_cell"))
    a, b = st.columns(2)

    def label(name: str) -> str:  # bound to this run's language (Streamlit may call it later)
        return i18n.class_label(language, name)

    true_name = a.selectbox(t("training.report.true_class"), class_names, format_func=label, key=f"true_{key}")
    predicted_name = b.selectbox(t("training.report.predicted_class"), class_names, index=1, format_func=label,
                                 key=f"predicted_{key}")
    true_index, predicted_index = class_names.index(true_name), class_names.index(predicted_name)
    chosen = np.flatnonzero((labels == true_index) & (predictions == predicted_index))
    st.caption(t("training.report.cell_images", count=len(chosen), true=class_label(true_name),
                 predicted=class_label(predicted_name)))
    if len(chosen):
        st.image(list(images[chosen[:GALLERY_SIZE]]), width=64)
    wrong = np.flatnonzero(labels != predictions)[:GALLERY_SIZE]
    st.caption(t("training.report.misclassified"))
    captions = [t("training.report.mistake", true=class_label(class_names[labels[index]]),
                  predicted=class_label(class_names[predictions[index]])) for index in wrong]
    st.image(list(images[wrong]), caption=captions, width=64)


# --- Every run. ---


def runs_section() -> None:
    """Every run with its state; open one to see its charts and results."""
    all_runs = runs.list_runs()
    if not all_runs:
        st.info(t("training.runs.none"))
        return
    table = [{"run": run["run_id"], "state": state_name(run["state"]), "model": run.get("model_name"),
              "owner": run.get("display_name") or run.get("owner"),
              "started": view.short_time(run.get("started") or run.get("created")), "epochs": run.get("epochs"),
              "test_accuracy": run.get("test_accuracy")} for run in all_runs]
    columns = {name: t(f"training.runs.columns.{name}") for name in ("run", "state", "model", "owner", "started",
                                                                     "epochs")}
    columns["test_accuracy"] = st.column_config.NumberColumn(t("training.runs.columns.test_accuracy"), format="percent")
    st.dataframe(table, hide_index=True, key="runs_table", column_config=columns)
    labels = {run["run_id"]: f"{run['run_id']} · {run.get('model_name')} · {state_name(run['state'])}" for run in all_runs}
    chosen = st.selectbox(t("training.runs.open"), list(labels), format_func=labels.get, key="open_run")
    status = runs.read_status(chosen)
    if status["state"] in LIVE_STATES or status["state"] == "queued":
        st.info(t("training.runs.live_elsewhere"))  # one live view per page: two would poll twice
    elif not may_see_report(status, visitor()):
        st.info(t("training.runs.private"))
    else:
        run_report(chosen, "runs", status)

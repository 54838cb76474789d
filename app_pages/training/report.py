"""Not a page: a run's report once it has ended (charts, results, confusion matrix and its images, downloads,
deleting), and the pieces the live view shares with it (state names, events, charts).
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from app_pages.parts.identity import visitor
from app_pages.parts.language import class_label, current_language, error_text, recorded_text, t
from app_pages.training.scrubber import scrubber_section
from cnn_core import i18n
from cnn_core.datasets.base import DataError
from cnn_core.server.owners import may_manage
from cnn_core.training import figures, launch, runs

STATE_ICONS = {
    "starting": "⏳", "running": "⏳", "finished": "✅", "stopped": "⏹️", "failed": "❌", "interrupted": "⚠️",
    "queued": "🕒", "cancelled": "🚫",
}
GALLERY_SIZE = 40


def state_name(state: str) -> str:
    """A run state with its icon, in the page's language ("✅ finished")."""
    return f"{STATE_ICONS.get(state, '')} {t(f'training.states.{state}')}"


def run_events(run_id: str) -> list[dict]:
    """All events of a run so far; this session reads only the new lines each time."""
    events = st.session_state.setdefault("run_events", {}).setdefault(run_id, [])
    events.extend(runs.read_events(run_id, since=len(events)))
    return events


@st.cache_data(max_entries=2, show_spinner=False)
def run_test_images(run_id: str) -> np.ndarray:
    """The test images a finished run was scored on (a run's data never changes: keyed by its id)."""
    return launch.run_dataset(run_id).x_test


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
        start = figures.start_fields(events)
        if start.get("progressive_resizing"):
            st.caption(t("training.live.progressive"))  # why validation lags training for two thirds of the run
        if widened := figures.widening(start):  # a long run trains a wider network than the settings name
            st.caption(t("training.live.widened", **widened))
        if start.get("mixup_alpha"):
            st.caption(t("training.live.mixup"))  # why training accuracy reads below validation accuracy
        with st.expander(t("probes.legend.epochs")):
            st.dataframe(figures.epoch_table(epochs, language=language), hide_index=True)



def plan_notes(events: list[dict]) -> None:
    """What the run's plan had to give up: not even one epoch fitting its time, or epochs cut to the server's ceiling."""
    if (overrun := figures.over_budget(events)) is not None:
        st.warning(t("training.live.over_budget", expected=overrun[0], budget=overrun[1]))
    if (cut := figures.shortened(events)) is not None:
        st.info(t("training.live.shortened", epochs=cut[0], asked=cut[1], seconds=cut[2]))


# --- A run that has ended. ---


def failure_text(status: dict) -> str:
    """Why a run failed, in the reader's language when the training process recorded the table key."""
    record = {"key": status.get("error_key"), "values": status.get("error_values") or {}}
    return recorded_text(record, status["error"])  # else (another version's tables, say) the English words


def report_header(run_id: str, status: dict) -> None:
    """The run's title, and why it ended if that was not the plan."""
    st.markdown(t("training.report.title", state=state_name(status["state"]), model=status.get("model_name"),
                  run=run_id))
    if status["state"] == "interrupted":
        st.warning(t("training.report.interrupted"))  # the process died: its own words are not the user's
    elif status.get("error"):
        st.error(t("training.report.failed", error=failure_text(status)))


def report_body(run_id: str, place: str, status: dict) -> None:
    """Charts, epoch scrubber, downloads, test results, confusion matrix with its images, misclassified gallery."""
    events = run_events(run_id)
    plan_notes(events)
    run_charts(run_id, events, place)
    scrubber_section(run_id, place, events)
    downloads(run_id, place, may_manage(status, visitor()))
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

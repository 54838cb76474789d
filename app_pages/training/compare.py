"""Not a page: the training page's Compare tab. Two or more finished runs side by side: their curves overlaid,
the settings that differ, per-class accuracy, and the test images one run gets right and the other wrong.

The numbers come from each run's files (events and predictions.npz); cnn_core.training.compare draws them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.parts.identity import visitor
from app_pages.parts.language import current_language, t
from app_pages.training.report import run_test_images
from cnn_core.server import owners
from cnn_core.training import compare, launch, runs, view

GALLERY_SIZE = 24  # thumbnails per direction


def compare_section() -> None:
    """Pick runs; show what differs between them and where their answers part."""
    finished = [status for status in owners.reports_for(runs.list_runs(), visitor())
                if status["state"] in ("finished", "stopped") and status.get("test_accuracy") is not None]
    if len(finished) < 2:
        st.info(t("training.compare.need_two"))
        return
    labels = {status["run_id"]: f"{status['run_id']} · {status.get('model_name')}" for status in finished}
    chosen = st.multiselect(t("training.compare.pick"), list(labels), default=list(labels)[:2], format_func=labels.get,
                            key="compare_runs", select_all=False)  # Streamlit's "Select all" row is English-only
    if len(chosen) < 2:
        st.info(t("training.compare.need_two"))
        return
    finishes = {run_id: finish_event(run_id) for run_id in chosen}
    language = current_language()
    st.plotly_chart(compare.overlay_figure({run_id: runs.history(run_id) for run_id in chosen}, language=language),
                    key="compare_curves")
    st.caption(t("training.compare.curves_caption"))
    models = [{"name": run_id, "test_accuracy": finishes[run_id]["test_accuracy"],
               "training_seconds": finishes[run_id].get("seconds"), "config": runs.read_config(run_id)}
              for run_id in chosen]
    st.dataframe(compare.as_text(view.compare_models(models, language)), hide_index=True, key="compare_settings")
    st.dataframe(compare.per_class_rows(finishes), hide_index=True, key="compare_per_class")
    disagreement_gallery(chosen[0], chosen[1], list(finishes[chosen[0]]["per_class_accuracy"]))


def finish_event(run_id: str) -> dict:
    """The run's finish event (test accuracy, per-class accuracy, seconds)."""
    return next(event for event in reversed(runs.read_events(run_id)) if event["type"] == "finish")


def disagreement_gallery(first: str, second: str, class_names: list[str]) -> None:
    """Test images that the first run gets right and the second wrong, and the other way round."""
    results = launch.test_predictions(first), launch.test_predictions(second)
    if None in results or not np.array_equal(results[0]["labels"], results[1]["labels"]):
        st.caption(t("training.compare.other_test_images"))
        return
    labels = results[0]["labels"]
    one_right, two_right = compare.disagreements(labels, results[0]["predictions"], results[1]["predictions"])
    images = run_test_images(first)
    for run_right, run_wrong, indices in ((first, second, one_right), (second, first, two_right)):
        st.markdown(t("training.compare.right_wrong", right=run_right, wrong=run_wrong, count=len(indices)))
        shown = indices[:GALLERY_SIZE]
        if len(shown):
            captions = [caption(results, index, class_names) for index in shown]
            st.image([images[index] for index in shown], caption=captions, width=64)


def caption(results: tuple[dict, dict], index: int, class_names: list[str]) -> str:
    """Both runs' answers for one thumbnail: "1: cat · 2: dog"."""
    first, second = (class_names[int(result["predictions"][index])] for result in results)
    return t("training.compare.thumbnail", first=first, second=second)

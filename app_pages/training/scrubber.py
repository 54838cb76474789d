"""Not a page: the run report's epoch scrubber. Replays what the network looked like after each epoch.

The training process leaves `snapshots.npz` in the run folder (cnn_core.training.snapshots): the first
layer's filters, a confusion matrix on the first test images, and a few fixed test images' predictions
and Grad-CAM maps, per epoch. Runs from before snapshots existed simply have no scrubber.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from app_pages.parts.language import class_label, current_language, t
from cnn_core.training import figures, runs
from cnn_core.training.snapshots import load_snapshots

SHOWN = 128  # screen pixels per fixed test image


def scrubber_section(run_id: str, place: str, events: list[dict]) -> None:
    """A slider over the run's epochs: filters, confusion matrix and the fixed images' Grad-CAM at that epoch."""
    saved = load_snapshots(runs.run_folder(run_id))
    if saved is None or not len(saved["epochs"]):
        return
    classes = saved["confusion"].shape[-1]
    class_names = list(figures.start_fields(events).get("class_names") or [str(index) for index in range(classes)])
    epochs = [int(epoch) for epoch in saved["epochs"]]
    with st.expander(t("scrubber.title", count=len(epochs))):
        st.caption(t("scrubber.intro"))
        epoch = st.select_slider(t("scrubber.epoch"), epochs, value=epochs[-1], key=f"scrub_{place}_{run_id}")
        index = epochs.index(epoch)
        fixed_images(saved, index, class_names)
        show_filters(saved, index, fixed=bool(runs.read_config(run_id).get("whitening_patch")))
        matrix = saved["confusion"][index]
        st.plotly_chart(figures.confusion_figure(matrix.tolist(), class_names, language=current_language()),
                        key=f"scrub_confusion_{place}_{run_id}")
        st.caption(t("scrubber.confusion", epoch=epoch, count=int(matrix.sum()),
                     accuracy=f"{np.trace(matrix) / max(int(matrix.sum()), 1):.1%}"))


def fixed_images(saved: dict, index: int, class_names: list[str]) -> None:
    """Each fixed test image with its Grad-CAM at this epoch, and what the network said."""
    from cnn_core.classify import explain

    columns = st.columns(max(len(saved["images"]), 1))
    for column, image, label, probabilities, cam in zip(columns, saved["images"], saved["labels"],
                                                        saved["probabilities"][index], saved["cams"][index]):
        picture = Image.fromarray(image).resize((SHOWN, SHOWN), Image.Resampling.NEAREST)
        best = int(np.argmax(probabilities))
        column.image(explain.overlay(picture, explain.upsample(cam.astype(np.float32), (SHOWN, SHOWN))),
                     caption=t("scrubber.image", true=class_label(class_names[int(label)]),
                               predicted=class_label(class_names[best]), probability=f"{float(probabilities[best]):.0%}"))
    st.image(explain.legend_strip(), caption=t("probes.legend.heat"))


def show_filters(saved: dict, index: int, fixed: bool) -> None:
    """The first layer's filters at this epoch (a whitening layer's stay as computed before training)."""
    from cnn_core.classify import explain

    filters = saved["filters"][index].astype(np.float32)
    caption = t("scrubber.filters_fixed" if fixed else "scrubber.filters", count=filters.shape[-1])
    st.image(explain.filter_grid(filters, columns=16), caption=caption)

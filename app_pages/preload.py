"""Not a page: what the server loads before its first visitor (app.py's lifespan calls `preload`).

A fresh server would otherwise make its first visitors wait for the libraries their pages import (pandas, Plotly,
Streamlit's emoji table, the pages' own helpers: about 1-2 s of a page's first view, measured) and for the default
dataset's summary (the CIFAR-10 folder decoded for the training page). TensorFlow is not among them: only a page that
runs a model imports it (~2.5 s and ~500 MB), and only when it does.
"""

from __future__ import annotations

import importlib

from app_pages import training_setup
from cnn_core.datasets import summary
from cnn_core.datasets.base import DataError

MODULES = (
    "pandas", "plotly.graph_objects", "streamlit.emojis",  # what Streamlit's dataframes, charts and page icon use
    "app_pages.classify_probes", "app_pages.exercise_box", "app_pages.guard", "app_pages.identity",
    "app_pages.training_compare", "app_pages.training_lessons", "app_pages.training_queue", "app_pages.training_report",
    "app_pages.training_runs", "app_pages.epoch_scrubber", "cnn_core.classify.inference", "cnn_core.classify.figures",
    "cnn_core.convolution.figures", "cnn_core.exercises", "cnn_core.models.card", "cnn_core.models.export",
    "cnn_core.models.transfer", "cnn_core.server.leaderboard", "cnn_core.training.figures",
)


def preload() -> None:
    """Import what the pages need and read the default dataset's summary (each failure only costs the first visitor
    the wait it would have had anyway)."""
    for name in MODULES:
        importlib.import_module(name)
    kind, path = training_setup.default_data()
    if kind == "path":
        try:
            summary.summarize(path)
        except (DataError, OSError):
            pass

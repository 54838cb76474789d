"""Not a page: what the server loads before its first visitor (app.py's lifespan calls `preload`).

A fresh server would otherwise make its first visitors wait for the libraries their pages import (pandas, Plotly,
Streamlit's emoji table, the pages' own helpers: about 1-2 s of a page's first view, measured) and for the default
dataset's summary (the CIFAR-10 folder decoded for the training page). TensorFlow is not among them: only a page that
runs a model imports it (~2.5 s and ~500 MB), and only when it does.
"""

from __future__ import annotations

import importlib

from cnn_core.datasets import summary
from cnn_core.datasets.base import DataError, default_location

MODULES = (
    "pandas", "plotly.graph_objects", "streamlit.emojis",  # what Streamlit's dataframes, charts and page icon use
    "app_pages.classify.probes", "app_pages.parts.exercises", "app_pages.parts.guard", "app_pages.parts.identity",
    "app_pages.training.compare", "app_pages.training.lessons", "app_pages.training.queue", "app_pages.training.report",
    "app_pages.training.runs", "app_pages.training.scrubber", "app_pages.training.setup", "cnn_core.classify.inference", "cnn_core.classify.figures",
    "cnn_core.convolution.figures", "cnn_core.convolution.exercises", "cnn_core.models.card", "cnn_core.training.export",
    "cnn_core.training.transfer", "cnn_core.server.leaderboard", "cnn_core.training.figures",
)


def preload() -> None:
    """Import what the pages need and read the default dataset's summary (each failure only costs the first visitor
    the wait it would have had anyway)."""
    for name in MODULES:
        importlib.import_module(name)
    location = default_location()
    if location is not None:
        try:
            summary.summarize(str(location))
        except (DataError, OSError):
            pass

"""Helpers for page tests run through streamlit.testing.v1.AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def fake_start_run(calls: list, run_id: str):
    """A start_run that records its arguments instead of training (the browser test trains for real)."""
    def start_run(*args, **kwargs):
        calls.append((args, kwargs))
        return run_id
    return start_run


def table_with(at: AppTest, column: str):
    """The first st.dataframe having `column` (AppTest does not report a dataframe's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)

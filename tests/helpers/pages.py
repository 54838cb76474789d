"""Helpers for page tests run through streamlit.testing.v1.AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def table_with(at: AppTest, column: str):
    """The first st.dataframe having `column` (AppTest does not report a dataframe's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def fake_submit(calls: list, run_id: str):
    """A queue.submit that records (config, data, model name, {"resume_from"}) instead of queueing."""
    def submit(config, request, **who):
        calls.append(((config, request["data"], request["model_name"]), {"resume_from": request["resume_from"]}))
        return run_id
    return submit

"""Not a page: no traceback ever reaches a visitor.

router.py runs every page inside `reported_errors()`, and fragments are wrapped with `guarded`: an error
nobody foresaw becomes a short message in the reader's language with a reference id, while the full
traceback goes to the server log under that id (so a teacher can find it). Only a desktop copy (not
public mode, see cnn_core.settings) also shows the details under the message. `st.stop()` and `st.rerun()`
raise BaseException, which passes through untouched.
"""

from __future__ import annotations

import contextlib
import functools

import streamlit as st

from app_pages.parts.language import t
from cnn_core import incidents, settings


def report(error: BaseException) -> str:
    """Log `error` with its traceback under a new reference id, show the short message; returns the id."""
    reference = incidents.record(error)
    st.error(t("app.unexpected_error", reference=reference))
    if not settings.public_mode():  # on one's own machine the details help (and tests see them as exceptions)
        st.exception(error)
    return reference


@contextlib.contextmanager
def reported_errors():
    """Run a block; any Exception it raises is reported (see `report`) instead of shown as a traceback."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the point: whatever it is, the visitor gets a message
        report(error)


def guarded(function):
    """`function`, with its unexpected errors reported instead of shown (for fragments and callbacks)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with reported_errors():
            return function(*args, **kwargs)
    return wrapper

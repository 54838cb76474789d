"""Unexpected errors: the whole traceback goes to the server log under a short reference id.

A page shows a visitor only that id (app_pages.parts.guard); whoever runs the server finds the details with it.
"""

from __future__ import annotations

import logging
import uuid

LOG = logging.getLogger("cnn_studio")


def record(error: BaseException) -> str:
    """Log `error` with its traceback under a new 8-character reference id; returns the id."""
    reference = uuid.uuid4().hex[:8]
    LOG.error("Unexpected error (reference %s)", reference, exc_info=error)
    return reference

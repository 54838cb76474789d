"""Not a page: putting runs in the training queue and showing a queued run (place in line, ETA, Cancel).

Train always accepts (within the server's limits): `submit` queues the run on disk and the server's
dispatcher (cnn_core.server.dispatcher) starts it when a slot frees. A queued run's panel is drawn by the training
page's one polling fragment (runs.follow_run), which shows the live view the moment its run starts.
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts.identity import visitor
from app_pages.parts.language import current_language, error_text, t
from cnn_core.models.protection import ProtectedError
from cnn_core.server import queue
from cnn_core.server.owners import may_manage
from cnn_core.training import figures, launch, runs
from cnn_core.training.config import TrainConfig


def submit(config: TrainConfig, spec: str | None, name: str, resume_from: str | None = None) -> str | None:
    """Queue a run for this visitor; its id, or None after showing why it was refused."""
    who = visitor()
    try:
        request = launch.make_request(config, spec, name, resume_from=resume_from)
        return queue.submit(config, request, owner=who.owner, display_name=who.display_name, admin=who.admin)
    except (ValueError, ProtectedError) as error:  # limits, a bad config or name, a protected model
        st.error(error_text(error))
    return None


def cancel(run_id: str) -> None:
    """Cancel button callback: only the owner or an admin (checked again here, whatever the session says)."""
    try:
        if may_manage(runs.read_status(run_id), visitor()):
            queue.cancel(run_id)
    except (ValueError, OSError) as error:
        st.session_state["queue_message"] = error_text(error)


def queued_panel(run_id: str, place: str, status: dict) -> None:
    """Place in line, expected start and Cancel of a waiting run (re-drawn each second by runs.follow_run)."""
    where = queue.positions().get(run_id, {"position": 1, "eta": 0.0})
    eta = figures.format_seconds(where["eta"], language=current_language())
    st.info(t("training.queue.waiting", model=status.get("model_name"), position=where["position"], eta=eta))
    if may_manage(status, visitor()):
        st.button(t("training.queue.cancel"), key=f"cancel_{place}_{run_id}", on_click=cancel, args=(run_id,))
    if "queue_message" in st.session_state:
        st.warning(st.session_state.pop("queue_message"))

"""The server's life: what happens when it starts, and when its host stops it.

`start()`: runs that the last shutdown interrupted go back into the queue (resuming from their checkpoints), and the
one dispatcher thread starts, so queued runs train whether or not anyone opens a page.
`stop()`: the dispatcher stops and every run this process trains is ended within a few seconds, recorded
"interrupted" (its checkpoint kept) and marked to be requeued by the next `start()`. Hosts stop an app with SIGTERM
and kill it soon after (Streamlit Community Cloud, systemd, Docker): a training step that runs for a minute inside
TensorFlow, where Python's signal handler cannot run, must not hold the server up.

app.py runs both through Streamlit's server lifespan (`lifespan`); `python -m cnn_core worker` calls them itself.
"""

from __future__ import annotations

import contextlib
import threading

from cnn_core.processes import end_processes
from cnn_core.server import dispatcher
from cnn_core.server.queue import requeue_interrupted
from cnn_core.training.launch import local_children
from cnn_core.training.runs import append_event, now_iso, read_status, update_status


def start() -> threading.Thread:
    """Requeue what the last shutdown interrupted, then start the dispatcher (idempotent)."""
    requeue_interrupted()
    return dispatcher.ensure_dispatcher()


def stop() -> list[str]:
    """Stop dispatching and end this process's training runs, each recorded "interrupted" and marked for requeueing;
    returns their ids."""
    dispatcher.stop_dispatcher()
    children = local_children()
    end_processes(list(children.values()))
    for run_id in children:
        _record_shutdown(run_id)
    return list(children)


def _record_shutdown(run_id: str) -> None:
    """Its process is gone (it may have recorded "interrupted" itself): say why, and that it goes back in line."""
    reason = "the server was stopped; the run goes back into the queue when the server starts again"
    if read_status(run_id)["state"] == "interrupted":
        append_event(run_id, {"type": "interrupted", "reason": reason})
        update_status(run_id, state="interrupted", ended=now_iso(), requeue=True,
                      error=f"Training was interrupted ({reason}).")


@contextlib.asynccontextmanager
async def lifespan(app):
    """Streamlit's server lifespan (`st.App(..., lifespan=lifespan)` in app.py): `start()` before the first request,
    `stop()` once the server is asked to shut down."""
    start()
    try:
        yield
    finally:
        stop()

"""CNN Studio: `streamlit run app.py` starts here.

Streamlit finds the `st.App` below and serves it: every visitor's page is `router.py` (the pages), and the server's
lifespan belongs to the app, not to any visitor. Before the first request it loads what the pages need
(app_pages.parts.preload), puts runs that the last shutdown interrupted back into the training queue and starts the
queue's dispatcher, so queued runs train after a restart with nobody on the site; when the host stops the server
(SIGTERM) it ends the runs it trains within seconds, each recorded "interrupted" with its checkpoint, to be requeued
on the next start (cnn_core.server.lifecycle).
"""

import contextlib
import threading

import streamlit as st
from streamlit.runtime.scriptrunner import script_runner

from cnn_core.server import lifecycle

# Streamlit resets Keras' global state after every visitor's script run, which forces a full garbage collection and
# empties TensorFlow's kernel cache (measured: a quarter of a class server's CPU). Our pages build no Keras models per
# run (each model's sub-models are built once and shared), so there is nothing to reset.
script_runner._clean_problem_modules = lambda: None


def preload() -> None:
    """app_pages.parts.preload, imported here too: app.py itself is imported before the server answers."""
    from app_pages.parts.preload import preload as load_pages

    load_pages()


@contextlib.asynccontextmanager
async def lifespan(app):
    """The server's start and stop: the pages' libraries loaded beside it (it answers meanwhile; a visitor that needs
    one of them first waits for that import only), then the queue's (cnn_core.server.lifecycle)."""
    threading.Thread(target=preload, name="cnn-studio-preload", daemon=True).start()
    async with lifecycle.lifespan(app):
        yield


app = st.App("router.py", lifespan=lifespan)

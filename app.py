"""CNN Studio: `streamlit run app.py` starts here.

Streamlit finds the `st.App` below and serves it: every visitor's page is `router.py` (the pages), and the server's
lifespan belongs to the app, not to any visitor. Before the first request it puts runs that the last shutdown
interrupted back into the training queue and starts the queue's dispatcher, so queued runs train after a restart
with nobody on the site; when the host stops the server (SIGTERM) it ends the runs it trains within seconds, each
recorded "interrupted" with its checkpoint, to be requeued on the next start (cnn_core.server.lifecycle).
"""

import streamlit as st

from cnn_core.server.lifecycle import lifespan

app = st.App("router.py", lifespan=lifespan)

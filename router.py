"""CNN Studio's pages: the script Streamlit runs for each visitor (app.py's server points here).

This file only settles the language and who is visiting, and declares the pages; each page is a thin script in
app_pages/ that calls cnn_core. No TensorFlow here: the home and convolution pages must start fast.
(The folder is not called `pages/`: beside the main script that name switches Streamlit to its legacy multipage
mode whenever a fresh server's first request is a page's own URL.)
"""

import streamlit as st

from app_pages.parts.guard import reported_errors
from app_pages.parts.identity import visitor_sidebar
from app_pages.parts.language import choose_language, t
from cnn_core.server.dispatcher import ensure_dispatcher

st.set_page_config(page_title="CNN Studio", page_icon="🧠", layout="wide")
choose_language()
visitor_sidebar()  # who is here (public mode: login or this browser's owner key, display name, teacher)
ensure_dispatcher()  # app.py's server started it already; this keeps `streamlit run router.py` and tests working

pages = [
    st.Page("app_pages/home.py", title=t("app.nav_home"), icon="🏠", default=True),
    st.Page("app_pages/convolution.py", title=t("app.nav_convolution"), icon="🔍", url_path="convolution"),
    st.Page("app_pages/training.py", title=t("app.nav_training"), icon="🏋️", url_path="training"),
    st.Page("app_pages/models.py", title=t("models.nav_title"), icon="💾", url_path="models"),
    st.Page("app_pages/leaderboard.py", title=t("leaderboard.nav_title"), icon="🏆", url_path="results"),
    st.Page("app_pages/classify.py", title=t("app.nav_classify"), icon="🏷️", url_path="classify"),
]
with reported_errors():  # a bug shows a message and a reference id, never a traceback
    st.navigation(pages).run()

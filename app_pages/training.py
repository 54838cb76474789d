"""Train a CNN: pick data, configure a model (with the math beside each setting), train it in the
background and watch it learn.

The page tells its story in four numbered sections, each drawn by a small module of app_pages/training/:
1 · data and 2 · model (`setup`, with `lessons` beside every group of settings), 3 · the model's summary,
4 · training and its live view (`runs`, with `queue` while a run waits and `report` once it ends). A second tab
lists every run, a third compares runs (`compare`).
Saved models live on their own page (app_pages/models.py).
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts import exercises
from app_pages.parts.language import t
from app_pages.training import compare, lessons, runs, setup

st.title(t("training.title"))
st.markdown(t("training.intro"))
setup.load_initial_config()
# One slot for passing messages, present on every run, so the tabs below (and the live view's fragment in them) keep
# their place in the page whether or not there is a message.
with st.container(key="training_notices"):
    if "link_error" in st.session_state:
        st.warning(st.session_state.pop("link_error"))
    if "flash" in st.session_state:
        st.success(st.session_state.pop("flash"))

train_tab, runs_tab, compare_tab = st.tabs([t("training.tab_train"), t("training.tab_runs"), t("training.tab_compare")],
                                           key="training_tabs")
with train_tab:
    # 1 · Data: where the images come from (a local folder or archive, an upload, or the download).
    data_spec, data_info, data_problem = setup.data_section()
    # 2 · Model: the settings, grouped; each group's lesson goes in the column beside it once the config is valid.
    config, config_problem, lesson_columns = setup.config_section()
    if config is not None:
        rows, size = setup.summary_of(config, data_info)
        num_classes = len(data_info["classes"]) if data_info else 10
        lessons.beside_settings(lesson_columns, config, rows, data_info)  # the open groups' lessons and questions
        # 3 · Before training: what the network costs.
        setup.summary_section(rows, size)
        exercises.exercises_section(exercises.for_training(config, rows, num_classes), "training")
    # 4 · Train, then watch it live (or see the last run's results).
    runs.train_section(config, data_spec, data_problem or config_problem)
    st.page_link("app_pages/models.py", label=t("training.models_link"), icon="💾")
with runs_tab:
    runs.runs_section()
with compare_tab:
    compare.compare_section()

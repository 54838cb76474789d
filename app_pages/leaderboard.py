"""Class results: who trained the best model on each dataset, and with which settings (a link loads them)."""

from __future__ import annotations

import streamlit as st

from app_pages.parts.identity import visitor
from app_pages.parts.language import t
from cnn_core.server import leaderboard
from cnn_core.server.owners import may_manage, may_see_settings
from cnn_core.training import view

TRAINING_URL = "training"  # the training page's url_path (router.py)


def board_section(source: str) -> None:
    """The ranked table; a link opens the training page with that run's settings, where the visitor may see them
    (their own run, or one whose model is shared: cnn_core.server.owners.may_see_settings)."""
    board, who = leaderboard.rows(source), visitor()
    table = [{"rank": place, "name": row["display_name"] or t("leaderboard.command_line"),
              "test_accuracy": view.percent(row["test_accuracy"]), "seconds": row["seconds"],
              "images_per_second": row["images_per_second"], "params": row["params"],
              "settings": f"{TRAINING_URL}?{row['link']}" if row["link"] and may_see_settings(row, who) else None}
             for place, row in enumerate(board, start=1)]
    columns = {name: t(f"leaderboard.columns.{name}") for name in ("rank", "name")}
    columns |= {
        "test_accuracy": st.column_config.NumberColumn(t("leaderboard.columns.test_accuracy"),
                                                       format=view.PERCENT_FORMAT),
        "seconds": st.column_config.NumberColumn(t("leaderboard.columns.seconds"), format="%.0f"),
        "images_per_second": st.column_config.NumberColumn(t("leaderboard.columns.images_per_second"), format="%.0f"),
        "params": st.column_config.NumberColumn(t("leaderboard.columns.params"), format="localized"),
        "settings": st.column_config.LinkColumn(t("leaderboard.columns.settings"),
                                                display_text=t("leaderboard.open_settings")),
    }
    st.dataframe(table, hide_index=True, key="leaderboard_table", column_config=columns)


def hide_section(source: str) -> None:
    """Owners (and teachers) hide or show their own rows."""
    who = visitor()
    mine = [row for row in leaderboard.rows(source, include_hidden=True) if may_manage(row, who)]
    if not mine:
        return
    with st.expander(t("leaderboard.hide_heading")):
        for row in mine:
            hidden = st.checkbox(t("leaderboard.hide", model=row["model"], run=row["run_id"]), value=row["hidden"],
                                 key=f"hide_{row['run_id']}")
            if hidden != row["hidden"]:
                leaderboard.set_hidden(row["run_id"], hidden)
                st.rerun()


st.title(t("leaderboard.title"))
st.markdown(t("leaderboard.intro"))
sources = leaderboard.data_sources()
if not sources:
    st.info(t("leaderboard.none"))
    st.stop()
chosen = st.selectbox(t("leaderboard.dataset"), sources, key="leaderboard_dataset")
board_section(chosen)
hide_section(chosen)

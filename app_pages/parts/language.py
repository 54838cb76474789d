"""Not a page: the language every page speaks, shared by router.py and the page scripts.

The choice comes from `?lang=zh` / `?lang=en` in the URL (so a shared link opens in its language) or
from the sidebar picker, lives in `st.session_state` (so it survives page switches, which clear the
URL's query parameters) and is written back to the URL on every run (so the address bar can be shared).
"""

from __future__ import annotations

import streamlit as st

from cnn_core import i18n, settings, untrusted

STATE_KEY = "language"
_WRITTEN_KEY = "_language_in_url"  # what we last put in the URL, to tell a user's edit from our own write


def choose_language() -> str:
    """Settle this run's language from the URL and the sidebar picker; returns its code."""
    in_url = st.query_params.get("lang")
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = i18n.normalise_language(in_url)
    elif in_url is not None and in_url != st.session_state.get(_WRITTEN_KEY):
        st.session_state[STATE_KEY] = i18n.normalise_language(in_url)  # a link or a hand-edited URL wins
    st.sidebar.selectbox(t("app.language"), list(i18n.LANGUAGES), key=STATE_KEY,
                         format_func=i18n.LANGUAGES.__getitem__)
    st.query_params["lang"] = st.session_state[_WRITTEN_KEY] = st.session_state[STATE_KEY]
    return st.session_state[STATE_KEY]


def current_language() -> str:
    """The code of the language chosen for this session ("en" before anything was chosen)."""
    return st.session_state.get(STATE_KEY, i18n.DEFAULT_LANGUAGE)


def t(key: str, **values: object) -> str:
    """The text for `key` in this session's language, as safe Markdown (see cnn_core.i18n.text).

    Every value but a number is escaped (cnn_core.untrusted.markdown_text): a class folder called
    "![x](https://...)" reads as those characters, never as an image. Text from `t` itself is kept.
    """
    return untrusted.Markdown(i18n.render(current_language(), key, values, _escape))


def plain_t(key: str, **values: object) -> str:
    """The text for `key` with its values as they are, for places that show plain text (table cells, options)."""
    public = settings.public_mode()
    return i18n.render(current_language(), key, {
        name: untrusted.plain_text(untrusted.without_paths(value) if public else value) if isinstance(value, str)
        else value for name, value in values.items()})


def class_label(class_name: str) -> str:
    """A class name in this session's language."""
    return i18n.class_label(current_language(), class_name)


def error_text(error: Exception) -> str:
    """An error from cnn_core in this session's language (every TranslatableError can), else its own text;
    safe Markdown either way (its values, a visitor's file or folder names, escaped)."""
    if isinstance(error, i18n.TranslatableError):
        return untrusted.Markdown(error.text(current_language(), _escape))
    return _escape(str(error))


def recorded_text(record: object, fallback: str) -> str:
    """A message saved as data (`i18n.message_record`, e.g. a model's dataset) in this session's language,
    as safe Markdown (its values escaped, like `t`'s).

    Metadata can be old, hand-edited or imported, so anything that does not make a sentence gives `fallback`.
    """
    message = i18n.message_from_record(record)
    if message is None:
        return _escape(fallback)
    try:
        return untrusted.Markdown(message.text(current_language(), _escape))
    except (KeyError, ValueError, IndexError):  # placeholders that do not fit the template
        return _escape(fallback)


def _escape(value: object) -> str:
    """A value for a template: Markdown-escaped; on a public server also without the server's own paths."""
    if isinstance(value, untrusted.Markdown):
        return value  # already escaped (text from `t`)
    return untrusted.markdown_text(untrusted.without_paths(value) if settings.public_mode() else value)

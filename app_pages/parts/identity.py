"""Not a page: who is using the app (public mode), drawn in the sidebar by router.py.

Identity, strongest first:
1. Streamlit's own login (`st.login` / `st.user`, OIDC configured in `.streamlit/secrets.toml` [auth]).
2. Otherwise an anonymous owner key: 32 random bytes (`secrets.token_urlsafe`), kept in a first-party cookie
   that survives reloads and closed tabs in the same browser. Streamlit has no cookie setter, so a two-line
   script (`st.html(..., unsafe_allow_javascript=True)`, run in the page itself, not an iframe) writes it
   once, and `st.context.cookies` reads it back on every later visit. It is never put in the URL, so a
   shared settings link never carries it; on disk only a hash of it is stored (runs and models show that).
Admins: a login email listed in the secrets' `admin_emails`, or the secrets' `admin_password` typed here.
Off public mode (a desktop) everyone is "local" and may do everything, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets

import streamlit as st

from app_pages.parts.language import error_text, t
from cnn_core import settings
from cnn_core.models.registry import RegistryError
from cnn_core.server import owners
from cnn_core.server.owners import Visitor, desktop_visitor

COOKIE = "cnn_studio_owner"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{40,64}$")  # what token_urlsafe(32) makes: 43 characters
COOKIE_DAYS = 365
MAX_DISPLAY_NAME = 40


# Writes this session's new key, unless another tab of the browser wrote a valid one since this session began (two
# tabs opened at once on a first visit): then this tab reloads to take that one, before its visitor can start anything
# under a key the browser will not keep. After the reload the server reads that valid cookie, so no script runs; the
# tab's sessionStorage allows one such reload in any case (two cookies of one name could otherwise disagree forever).
COOKIE_SCRIPT = """<script>
const name = %(name)s, key = %(key)s;
const found = document.cookie.split("; ").find((pair) => pair.startsWith(name + "="));
const value = found ? found.slice(name.length + 1) : "";
if (!/%(pattern)s/.test(value)) document.cookie = name + "=" + key + "; max-age=%(seconds)d; path=/; SameSite=Strict";
else if (value !== key && !sessionStorage.getItem(name)) { sessionStorage.setItem(name, "reloaded"); location.reload(); }
</script>"""


def _anonymous_key() -> str:
    """This browser's secret owner key: from its cookie, or new (then written to the cookie once: COOKIE_SCRIPT)."""
    if "_owner_key" in st.session_state:
        return st.session_state["_owner_key"]
    key = st.context.cookies.get(COOKIE)
    if not isinstance(key, str) or not KEY_PATTERN.match(key):  # absent, tampered with, or a test's stand-in
        key = secrets.token_urlsafe(32)
        script = COOKIE_SCRIPT % {"name": json.dumps(COOKIE), "key": json.dumps(key), "pattern": KEY_PATTERN.pattern,
                                  "seconds": COOKIE_DAYS * 86400}
        with st.sidebar:
            st.html(script, unsafe_allow_javascript=True)
    st.session_state["_owner_key"] = key
    return key


def _login_email() -> str | None:
    """The logged-in user's email when the host configured Streamlit's login, else None (and a login button)."""
    if "auth" not in settings.secrets():
        return None
    if st.user.is_logged_in:
        st.sidebar.caption(t("app.identity.logged_in", email=st.user.get("email", "")))
        st.sidebar.button(t("app.identity.logout"), on_click=st.logout, key="logout")
        return str(st.user.get("email") or "").lower() or None
    st.sidebar.button(t("app.identity.login"), on_click=st.login, key="login")
    return None


def _admin_by_password() -> bool:
    password = settings.admin_password()
    if not password:
        return False
    if st.session_state.get("_admin"):
        return True
    typed = st.sidebar.text_input(t("app.identity.admin_password"), type="password", key="admin_password_input")
    if typed and hmac.compare_digest(typed.encode(), password.encode()):
        st.session_state["_admin"] = True
        st.session_state.pop("admin_password_input", None)
        return True
    return False


def visitor_sidebar() -> Visitor:
    """Settle who this visitor is (sidebar: login, display name, admin password); store it for the pages."""
    if not settings.public_mode():
        st.session_state["_visitor"] = desktop_visitor()
        return st.session_state["_visitor"]
    email = _login_email()
    owner = f"user:{email}" if email else "anon-" + hashlib.sha256(_anonymous_key().encode()).hexdigest()[:24]
    default = (email or "").split("@")[0] or t("app.identity.default_name", tag=owner[-4:])
    if "display_name" not in st.session_state:  # a new session: the name on this visitor's last run, if any
        st.session_state["display_name"] = owners.last_display_name(owner) or default
    typed = st.sidebar.text_input(t("app.identity.display_name"), key="display_name", max_chars=MAX_DISPLAY_NAME,
                                  help=t("app.identity.display_name_help"))
    admin = bool(email and email in settings.admin_emails()) or _admin_by_password()
    if admin:
        st.sidebar.caption(t("app.identity.admin"))
    st.session_state["_visitor"] = Visitor(owner, typed.strip()[:MAX_DISPLAY_NAME] or default, admin)
    return st.session_state["_visitor"]


def visitor() -> Visitor:
    """The visitor router.py settled for this run (a desktop visitor where it has not: page tests, say)."""
    return st.session_state.get("_visitor") or desktop_visitor()


def say_if_picked_model_gone(key: str, names: list[str], said: str | None = None) -> None:
    """A model picker's choice (session state `key`) no longer among the `names` this visitor may see (its owner
    made it private, deleted or renamed it meanwhile): say so, once: Streamlit's picker then falls back to a model
    that exists. `said`: a name this tab has reported already (its own deletion)."""
    gone = st.session_state.get(key)
    if gone not in (None, *names) and gone != said:
        st.warning(error_text(RegistryError("no_such_model", name=gone)))

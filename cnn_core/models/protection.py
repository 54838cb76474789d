"""Protected models: the ones that ship with the app and the ones an admin marked. Never deleted or overwritten.

Two lists, both read on every check so that a stale copy in memory can never let a write through:

- shipped: `models/SHIPPED` in the repository (one name a line), read from the project itself, not from
  `models_dir()`, so moving the registry elsewhere does not unprotect them; no page or command edits it.
- marked: `models_dir()/.protected.json` (hidden, so listings skip it), a JSON list that admins edit
  through `set_protected`, under a `filelock` lock so two admins cannot undo each other.

The registry calls `check_writable(name)` before it replaces or deletes a model folder; whatever asks
(a page, the CLI, a crafted session state) ends there. Names are registry folder names (already sanitised).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from cnn_core.atomic import read_json, write_json_atomic
from cnn_core.i18n import TranslatableError
from cnn_core.paths import PROJECT_ROOT, models_dir

SHIPPED_LIST = PROJECT_ROOT / "models" / "SHIPPED"
MARKED_FILE = ".protected.json"
LOCK_TIMEOUT_SECONDS = 10  # an admin click waits at most this long for another admin's edit


class ProtectedError(TranslatableError, PermissionError):
    """A change to a model that is protected (shipped with the app, or marked by an admin)."""

    section = "errors.protection"


def shipped_names() -> set[str]:
    """Names of the models that ship with the app."""
    try:
        lines = SHIPPED_LIST.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _marked_path() -> Path:
    return models_dir() / MARKED_FILE


def marked_names() -> set[str]:
    """Names an admin marked protected. A damaged list raises ProtectedError: it fails closed, so no model that
    might be on it can be deleted until an admin marks again (which rewrites it)."""
    try:
        names = read_json(_marked_path())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError):
        names = None
    if not isinstance(names, list):
        raise ProtectedError("damaged", path=str(_marked_path()))
    return {name for name in names if isinstance(name, str)}


def protection_reason(name: str) -> str | None:
    """"shipped", "marked" or None."""
    if name in shipped_names():
        return "shipped"
    if name in marked_names():
        return "marked"
    return None


def is_protected(name: str) -> bool:
    return protection_reason(name) is not None


def check_writable(name: str, action: str = "delete") -> None:
    """ProtectedError if `name` may not be deleted or overwritten (`action` is "delete", "overwrite" or "rename")."""
    reason = protection_reason(name)
    if reason is not None:
        raise ProtectedError(f"{reason}_{action}", name=name)


def set_protected(name: str, protected: bool) -> None:
    """Mark or unmark a model (admins only: the page checks who asks). Shipped models stay protected."""
    if not protected and name in shipped_names():
        raise ProtectedError("shipped_unprotect", name=name)
    path = _marked_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_SECONDS):
        try:
            names = marked_names()
        except ProtectedError:  # damaged: start again from this admin's choice
            names = set()
        names = names | {name} if protected else names - {name}
        write_json_atomic(path, sorted(names))

"""How this installation is hosted: public mode, slots and limits, admins. Read from the environment first, then
from Streamlit's secrets file (read here as plain TOML: cnn_core imports no Streamlit).

    CNN_STUDIO_PUBLIC=1               public mode: owners, private reports, caps (off on a desktop)
    CNN_STUDIO_MAX_RUNS               concurrent training runs (default: one per two cores)
    CNN_STUDIO_MAX_RUN_SECONDS        public mode: each run's time budget is capped at this (default 300)
    CNN_STUDIO_MAX_TRAIN_IMAGES       public mode: images per split a run may use (default 10,000)
    CNN_STUDIO_MAX_QUEUED             runs waiting at once, whoever submits (default 100)
    CNN_STUDIO_RAY_ADDRESS / RAY_ADDRESS   run queued runs on this Ray cluster
    CNN_STUDIO_DISPATCHER=off         the web server leaves the queue to `python -m cnn_core worker`
    CNN_STUDIO_TRAINING_NICE          training processes' nice value (default 10; 0: normal priority)

Secrets (`.streamlit/secrets.toml`): the same keys, plus `admin_emails = ["teacher@school.org"]` and
`admin_password = "..."`, and Streamlit's own `[auth]` section for st.login.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any

from cnn_core.paths import PROJECT_ROOT

DEFAULT_MAX_RUN_SECONDS = 300
DEFAULT_MAX_TRAIN_IMAGES = 10_000  # a fifth of CIFAR-10: enough to learn, small enough for a shared CPU
DEFAULT_MAX_QUEUED = 100  # bounds the run folders one spammer could make before anyone notices
DEFAULT_TRAINING_NICE = 10  # Linux CFS weights nice 10 at ~1/10 of nice 0: the server wins a contended core ~90%
TRUE_WORDS = {"1", "true", "yes", "on"}


def secrets_files() -> list[Path]:
    """Where Streamlit looks for secrets: the project's `.streamlit/` first, then the user's."""
    return [PROJECT_ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


@functools.lru_cache(maxsize=4)
def _read_secrets(paths: tuple[Path, ...], stamps: tuple[float, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in reversed(paths):  # the project's file wins
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
    return merged


def secrets() -> dict[str, Any]:
    """The merged secrets (re-read when a file changes); {} where there are none."""
    paths = tuple(secrets_files())
    stamps = tuple(path.stat().st_mtime if path.is_file() else 0.0 for path in paths)
    return _read_secrets(paths, stamps)


def setting(name: str, default: Any = None) -> Any:
    """An environment variable `name`, else the same key in the secrets, else `default`."""
    if os.environ.get(name, "").strip():
        return os.environ[name].strip()
    return secrets().get(name, default)


def _number(name: str, default: int, low: int = 1) -> int:
    try:
        return max(low, int(float(setting(name, default))))
    except (TypeError, ValueError):
        return default


def public_mode() -> bool:
    """CNN_STUDIO_PUBLIC set to 1/true/yes/on (environment or secrets)."""
    return str(setting("CNN_STUDIO_PUBLIC", "")).strip().lower() in TRUE_WORDS


def max_runs() -> int:
    """Runs that train at once on this server: CNN_STUDIO_MAX_RUNS, default one per two cores (at least 1)."""
    return _number("CNN_STUDIO_MAX_RUNS", max(1, (os.cpu_count() or 1) // 2))


def max_run_seconds() -> int:
    return _number("CNN_STUDIO_MAX_RUN_SECONDS", DEFAULT_MAX_RUN_SECONDS)


def max_train_images() -> int:
    return _number("CNN_STUDIO_MAX_TRAIN_IMAGES", DEFAULT_MAX_TRAIN_IMAGES)


def max_queued() -> int:
    return _number("CNN_STUDIO_MAX_QUEUED", DEFAULT_MAX_QUEUED)


def training_nice() -> int:
    """How far training processes lower their priority: a nice value 0-19 (0 leaves it as it is)."""
    return min(_number("CNN_STUDIO_TRAINING_NICE", DEFAULT_TRAINING_NICE, low=0), 19)


def web_dispatcher_enabled() -> bool:
    """Whether the web server's own dispatcher thread starts queued runs (on unless CNN_STUDIO_DISPATCHER=off)."""
    return str(setting("CNN_STUDIO_DISPATCHER", "on")).strip().lower() not in {"off", "0", "false", "no"}


def ray_address() -> str | None:
    """The Ray cluster to train on, or None for local processes (the default)."""
    return str(setting("CNN_STUDIO_RAY_ADDRESS", "") or os.environ.get("RAY_ADDRESS", "")).strip() or None


def admin_emails() -> set[str]:
    emails = setting("admin_emails", []) or []
    if isinstance(emails, str):
        emails = emails.split(",")
    return {str(email).strip().lower() for email in emails if str(email).strip()}


def admin_password() -> str | None:
    password = setting("admin_password", None)
    return str(password) if password else None

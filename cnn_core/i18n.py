"""Every word the app shows, in English and Simplified Chinese, looked up by key.

The tables live in `cnn_core/locales/<language>/<section>.toml`: one folder per language, one file per
page or topic, so `locales/en/home.toml`'s `title` is the key "home.title". Placeholders use
`str.format` syntax ("{epochs} epochs") and must be the same in every language (tests check).
No Streamlit here: scripts and the CLI can translate too.
"""

from __future__ import annotations

import functools
import string
import tomllib
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "zh": "中文"}  # code -> the language's own name, for the picker
DEFAULT_LANGUAGE = "en"


class MissingTextError(KeyError):
    """A key that the language's table does not have (a bug: tests keep the tables complete)."""


def normalise_language(value: str | None) -> str:
    """Map what a URL or browser says ("zh", "zh-CN", "ZH_hans", "en-GB", junk) to a supported code."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _flatten(prefix: str, values: dict) -> dict[str, str]:
    flat = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(name, value))
        else:
            flat[name] = str(value)
    return flat


@functools.cache
def table(language: str) -> dict[str, str]:
    """The whole translation table of one language: dotted key -> text."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    merged: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / language).glob("*.toml")):
        with path.open("rb") as file:
            merged.update(_flatten(path.stem, tomllib.load(file)))
    return merged


def text(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language`, with `{placeholders}` filled from `values`."""
    try:
        template = table(language)[key]
    except KeyError:
        raise MissingTextError(f"no text for {key!r} in language {language!r}") from None
    return template.format(**values) if values else template


def placeholders(template: str) -> set[str]:
    """The `{names}` a template expects (tests compare them across languages)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def class_label(language: str, class_name: str) -> str:
    """A class name in `language`: CIFAR-10's ten are translated, a user's own folder names are kept."""
    return table(language).get(f"classes.{class_name}", class_name)

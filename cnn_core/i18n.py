"""Every word the app shows, in English and Simplified Chinese, looked up by key.

The tables live in `cnn_core/locales/<language>/<section>.toml`: one folder per language, one file per
page or topic, so `locales/en/home.toml`'s `title` is the key "home.title". Placeholders use
`str.format` syntax ("{epochs} epochs") and must be the same in every language (tests check).
cnn_core's errors derive from `TranslatableError`: a key and values (`locales/*/errors.toml`), English in str().
No Streamlit here: scripts and the CLI can translate too.
"""

from __future__ import annotations

import functools
import numbers
import string
import tomllib
from pathlib import Path
from typing import Callable, ClassVar, NamedTuple

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
    return render(language, key, values)


def render(language: str, key: str, values: dict[str, object], escape: Callable[[str], str] | None = None) -> str:
    """`text`, with every str value (nested messages' too) passed through `escape` (pages: Markdown escaping).

    Templates are ours and keep their Markdown; values may be a visitor's words (cnn_core.untrusted).
    """
    try:
        template = table(language)[key]
    except KeyError:
        raise MissingTextError(f"no text for {key!r} in language {language!r}") from None
    if not values:
        return template
    return template.format(**{name: _in_words(language, value, escape) for name, value in values.items()})


class Message(NamedTuple):
    """A table key and its values, put into words only once the reader's language is known."""

    key: str
    values: dict[str, object] = {}

    def text(self, language: str, escape: Callable[[str], str] | None = None) -> str:
        """This message in `language` (values through `escape`, see `render`)."""
        return render(language, self.key, self.values, escape)


def message_record(message: Message) -> dict:
    """A Message as JSON-ready data (for metadata files), nested Messages included."""
    values = {name: message_record(value) if isinstance(value, Message) else value
              for name, value in message.values.items()}
    return {"key": message.key, "values": values}


def message_from_record(record: object, depth: int = 0) -> Message | None:
    """The Message a `message_record` saved, or None if `record` is not one (files can be edited or imported)."""
    if depth > 4 or not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return None
    if record["key"] not in table(DEFAULT_LANGUAGE) or not isinstance(record.get("values", {}), dict):
        return None
    values: dict[str, object] = {}
    for name, value in record.get("values", {}).items():
        if isinstance(value, dict):
            value = message_from_record(value, depth + 1)
        if not isinstance(name, str) or not isinstance(value, (str, int, float, Message)) or isinstance(value, bool):
            return None
        values[name] = value
    return Message(record["key"], values)


class TranslatableError(Exception):
    """Base of cnn_core's errors that a page shows: `key` and `values` say it in any language.

    A subclass names its table `section` ("errors.config"); `raise ConfigError("reason", name=...)`
    looks up "errors.config.reason". `str(error)` is the English text, for logs, the CLI and tests;
    pages call `text(language, error.key, **error.values)` (app_pages.parts.language.error_text).
    Put the concrete built-in base after this one: `class ConfigError(TranslatableError, ValueError)`.
    """

    section: ClassVar[str] = ""

    def __init__(self, reason: str, /, **values: object):  # positional-only: "reason" is a fine placeholder too
        self.reason, self.key, self.values = reason, f"{self.section}.{reason}", values
        super().__init__(text(DEFAULT_LANGUAGE, self.key, **values))

    def text(self, language: str, escape: Callable[[str], str] | None = None) -> str:
        """This error's message in `language` (values through `escape`, see `render`)."""
        return render(language, self.key, self.values, escape)

    def __reduce__(self):  # pickling (multiprocessing) must rebuild from the reason, not the English text
        return _rebuild_error, (type(self), self.reason, self.values)


def _rebuild_error(cls: type[TranslatableError], reason: str, values: dict) -> TranslatableError:
    return cls(reason, **values)


def _in_words(language: str, value: object, escape: Callable[[str], str] | None) -> object:
    """A value ready for a template: messages and errors nested in another one speak its language too."""
    if isinstance(value, (Message, TranslatableError)):
        return value.text(language, escape)
    if isinstance(value, list) and value and all(isinstance(item, Message) for item in value):
        return text(language, "errors.list_separator").join(item.text(language, escape) for item in value)
    if escape is not None and not isinstance(value, numbers.Number):  # numbers keep their format specs
        return escape(value)
    return value


def placeholders(template: str) -> set[str]:
    """The `{names}` a template expects (tests compare them across languages)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def class_label(language: str, class_name: str) -> str:
    """A class name in `language`: CIFAR-10's ten are translated, a user's own folder names are kept."""
    return table(language).get(f"classes.{class_name}", class_name)

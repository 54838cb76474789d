"""Text that a visitor supplied is shown as text: the one escaping rule for every page and chart.

Class and folder names from an uploaded zip, model and dataset names, file names, values from a shared
link or an uploaded settings file, the details of an error: any of them may come from a stranger on a
public server and be shown to every other visitor. Streamlit renders its strings as Markdown (with
LaTeX between `$`, `:red[...]` colour directives, links, images and autolinked URLs), and Plotly renders
its labels as a small HTML dialect (`<a href>`, `<b>`, `$...$` for MathJax). So:

- `markdown_text(s)` for anything that reaches `st.markdown`, captions, messages, widget labels;
  the page helper `app_pages.parts.language.t` applies it to every value it puts into a table's template,
  so a template's own Markdown still works while the values can only ever be words.
- `plotly_text(s)` for axis categories, hover text and annotations of a figure.
- `Markdown`: a str that is already safe Markdown (a table template with escaped values), so it is
  not escaped twice when one translated sentence is put into another.
No Streamlit here: cnn_core's figures use the same rule.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that start Markdown, GitHub-flavoured Markdown, LaTeX ($), Streamlit directives (:red[...],
# :material/icon:), HTML and entities (& < >). Backslash-escaping any ASCII punctuation is valid
# CommonMark, and an escaped character can no longer open or close a construct.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#!|~$:@&])")
# GFM turns "www.example.com" into a link even without a scheme; escaping the dot stops it.
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
# An absolute POSIX path inside a sentence: slash-separated parts up to a space or a quote; group 1 is its last part.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(?:/[^\s/'\"]+)*/([^\s/'\"]*)")
# Names are labels, not documents: this many characters is more than any class or file name needs.
MAX_CHARS = 300


class Markdown(str):
    """A string that is safe to render as Markdown as it is (our template with escaped values)."""

    __slots__ = ()


def one_line(value: object, limit: int = MAX_CHARS) -> str:
    """`value` as a single line of printable text, at most `limit` characters (an ellipsis marks a cut)."""
    text = str(value)
    # Newlines would start headings, lists or code blocks; control and format characters (e.g. the
    # right-to-left override) make a name read as something else.
    text = "".join(" " if char in "\r\n\t\v\f" else char for char in text
                   if char in "\r\n\t\v\f" or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` escaped so that Streamlit's Markdown shows exactly its characters (a Markdown value is kept)."""
    if isinstance(value, Markdown):
        return value
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", one_line(value, limit))
    return Markdown(_WWW.sub(r"\1\\.", escaped))


def plotly_text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` escaped for a Plotly label or hover text: HTML entities, and no `$` that could start MathJax."""
    return html.escape(one_line(value, limit), quote=True).replace("$", "&#36;")


def without_paths(value: object) -> str:
    """`value` with every absolute path cut to its last part ("/srv/data/uploads/3f-cats.zip" -> "3f-cats.zip").

    A public server names a visitor's own file, never where it keeps it.
    """
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1) or "…", str(value))


def plain_text(value: object, limit: int = MAX_CHARS) -> str:
    """`value` for a place that shows plain text (table cells, the options of a select box): one line, capped."""
    return one_line(value, limit)

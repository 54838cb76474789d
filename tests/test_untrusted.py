"""The escaping rule (cnn_core.untrusted) against an independent Markdown parser (markdown-it-py, CommonMark),
Python's own HTML unescaping, and the page helper `t` that applies it to every value of a template."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from cnn_core import i18n, untrusted
from cnn_core.datasets.base import DataError

# What the hostile visitor tried, and a few more of the same kind.
HOSTILE = [
    "![x](http://127.0.0.1:9/pixel.png)",
    "[Log in again](https://evil.example/login)",
    r"$\Huge BIG$",
    ":red[alarm] :material/warning:",
    '<a href="http://evil.example">click</a>',
    "<img src=x onerror=alert(1)>",
    "line one\n# a heading\n- a list",
    "**bold** _it_ ~~gone~~ `code`",
    "<http://evil.example/auto>",
    "[ref]: http://evil.example",
    "&lt;b&gt; &#36;",
    "back\\slash\\",
    "\u202eevil.exe",
]
PARSER = MarkdownIt("commonmark").enable("strikethrough")


def tags(markdown: str) -> set[str]:
    """The HTML tags CommonMark makes of `markdown` (p for plain text only)."""
    return set(re.findall(r"<([a-z0-9]+)", PARSER.render(markdown)))


@pytest.mark.parametrize("name", HOSTILE)
def test_escaped_names_are_plain_text_for_commonmark(name):
    escaped = untrusted.markdown_text(name)
    assert tags(escaped) <= {"p"}  # no link, image, heading, list, emphasis, code or raw HTML
    rendered = html.unescape(re.sub(r"</?p>", "", PARSER.render(escaped)).strip())
    assert rendered == untrusted.one_line(name)  # ... and it reads exactly as the visitor typed it (on one line)
    assert re.search(r"(?<!\\)[$:\[]", escaped) is None  # LaTeX and Streamlit directives cannot open either


def test_the_unescaped_names_would_have_made_links_images_and_headings():
    # The reference parser does see the attacks, so the test above can fail.
    assert "img" in tags(HOSTILE[0]) and "a" in tags(HOSTILE[1]) and "h1" in tags(HOSTILE[6].split("\n", 1)[1])


@pytest.mark.parametrize("name", HOSTILE)
def test_plotly_text_carries_no_tag_and_no_dollar(name):
    escaped = untrusted.plotly_text(name)
    assert "<" not in escaped and "$" not in escaped and "\n" not in escaped
    assert html.unescape(escaped) == untrusted.one_line(name)


def test_one_line_caps_and_drops_control_characters():
    assert untrusted.one_line("a\u202eb\x00c\nd") == "abc d"
    long = untrusted.one_line("x" * 1000)
    assert len(long) == untrusted.MAX_CHARS and long.endswith("…")


def test_escaped_text_is_not_escaped_twice_and_numbers_keep_their_format():
    once = untrusted.markdown_text("a_b")
    assert untrusted.markdown_text(once) == once == "a\\_b"
    text = i18n.render("en", "errors.data.no_such_path", {"path": "[x](http://e)"}, untrusted.markdown_text)
    assert "\\[x\\]\\(http\\://e\\)" in text
    # A nested message's values are escaped too; numbers still take their format spec.
    nested = i18n.Message("datasets.with_skipped", {"source": i18n.Message("datasets.official",
                                                                           {"train": 50000, "test": 10000}),
                                                    "count": 1, "names": "![i](http://e/p.png)"})
    text = nested.text("en", untrusted.markdown_text)
    assert "50,000" in text and tags(text) <= {"p"}


def test_errors_escape_their_values_only_when_asked():
    error = DataError("no_such_path", path="*bold*")
    assert "*bold*" in str(error) and "\\*bold\\*" in error.text("en", untrusted.markdown_text)


def test_without_paths_keeps_only_the_last_part():
    text = "No dataset at /srv/app/data/uploads/3f-cats.zip: [Errno 36] File name too long: '/tmp/x/yy'"
    assert untrusted.without_paths(text) == "No dataset at 3f-cats.zip: [Errno 36] File name too long: 'yy'"
    assert untrusted.without_paths("1/2 and a/b stay") == "1/2 and a/b stay"

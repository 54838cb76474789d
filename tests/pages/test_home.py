"""The home page under AppTest: it tells the story, links every page, speaks both languages, and never
loads TensorFlow."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from helpers.paths import APP, PROJECT_ROOT
from helpers.text import CJK, english_leftovers

STEPS = {"en": ("Image", "Convolution", "Pooling", "Dense", "Softmax", "Class"),
         "zh": ("图像", "卷积", "池化", "全连接层", "Softmax", "类别")}


def _open_home(language: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if language:
        at.query_params["lang"] = language
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def _shown_text(at: AppTest) -> str:
    """Every piece of text the page shows (headings, Markdown, captions, link and expander labels)."""
    parts = [item.value for kind in (at.title, at.subheader, at.markdown, at.caption) for item in kind]
    parts += [link.proto.label for link in at.get("page_link")] + [item.label for item in at.expander]
    parts += [image.proto.imgs[0].caption for image in at.image]
    return "\n".join(parts)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_home_tells_the_story_and_links_every_page(language):
    at = _open_home(language)
    assert at.title[0].value == "CNN Studio"
    story = " ".join(item.value for item in at.markdown if re.match(r"\*\*\d · ", item.value))
    positions = [story.index(step) for step in STEPS[language]]
    assert positions == sorted(positions)  # the steps appear in the order an image flows through a CNN
    targets = {link.proto.page for link in at.get("page_link")}
    assert targets == {"convolution", "training", "classify"}
    # The live example: image -> 3x3 Sobel x (valid) -> 2x2 max pool of the 256x256 "Shapes" sample.
    sizes = [re.findall(r"\d+×\d+", image.proto.imgs[0].caption)[-1] for image in at.image]
    assert sizes == ["256×256", "254×254", "127×127"]
    # The math in one place: convolution to the optimizer step, formulas and words.
    latex = [item.value for item in at.latex]
    assert len(latex) == 9 and any("W\\mathbf{x} + \\mathbf{b}" in formula for formula in latex)
    assert any("e^{z_k}" in formula for formula in latex)  # softmax


def test_home_in_chinese_shows_no_english_ui_text():
    text = _shown_text(_open_home("zh"))
    assert len(CJK.findall(text)) > 300
    assert english_leftovers(text) == []
    assert "从像素到类别" in text and "全部公式一览" in text and "为什么全连接层放在最后？" in text
    english = _shown_text(_open_home("en"))
    assert not CJK.search(english.replace("Language / 语言", ""))
    assert "From pixels to a class" in english


def test_sidebar_picker_switches_the_language():
    at = _open_home("zh")
    assert at.subheader[0].value == "从像素到类别，一步一步来"
    at.selectbox(key="language").set_value("en").run()
    assert not at.exception and at.subheader[0].value == "From pixels to a class, step by step"
    assert at.query_params["lang"] == "en"  # the address bar follows, so a copied link keeps the language


def test_language_persists_across_pages():
    at = _open_home("zh")
    at.query_params.clear()  # following a link in the app drops the query string
    at.switch_page("app_pages/convolution.py").run()
    assert not at.exception and at.title[0].value == "卷积与池化"
    at.query_params.clear()
    at.switch_page("app_pages/home.py").run()
    assert at.subheader[0].value == "从像素到类别，一步一步来"


def test_home_links_open_their_pages():
    at = _open_home()
    at.switch_page("app_pages/convolution.py").run()
    assert not at.exception and at.title[0].value == "Convolution & pooling"


def test_home_and_convolution_pages_do_not_import_tensorflow():
    """Run both pages, in Chinese, in a fresh interpreter and look at what got imported."""
    code = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60)
at.query_params["lang"] = "zh"
at.run()
assert not at.exception, at.exception
at.switch_page("app_pages/convolution.py").run()
assert not at.exception, at.exception
assert at.get("plotly_chart"), "the convolution page did not render its charts"
loaded = sorted(name for name in ("tensorflow", "keras") if name in sys.modules)
print("LOADED", loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stdout

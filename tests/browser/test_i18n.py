"""Every page in Debian chromium with ?lang=zh: Chinese text, no English UI strings, formulas rendered by KaTeX,
and the language kept when moving between pages through the sidebar.

The English strings looked for are the translation tables' own (see helpers.text.english_leftovers), so
the test follows the tables as pages grow. Streamlit's file-uploader box ("Drag and drop file here",
"Browse files") cannot be translated in Streamlit 1.67 (streamlit/streamlit#13500) and is left out.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from cnn_core.i18n import text

from helpers.browser import open_options, settle
from helpers.paths import PROJECT_ROOT as ROOT
from helpers.text import CJK, english_leftovers

pytestmark = pytest.mark.browser


def _pages() -> dict[str, str]:
    """Page name -> URL path, read from router.py's st.Page(...) calls, so a new page is tested too."""
    pages = {}
    for node in ast.walk(ast.parse((ROOT / "router.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            url_path = next((keyword.value.value for keyword in node.keywords if keyword.arg == "url_path"), "")
            pages[Path(node.args[0].value).stem] = url_path
    return pages


PAGES = _pages()
UNTRANSLATABLE = "[data-testid='stFileUploaderDropzoneInstructions'], [data-testid='stFileUploaderDropzone'] button"
# The page's text as a person sees it, minus Streamlit's own untranslatable widgets, plus chart text (SVG).
SHOWN_TEXT = """(selector) => {
    const copy = document.querySelector("[data-testid='stApp']").cloneNode(true);
    copy.querySelectorAll(selector).forEach((node) => node.remove());
    copy.style.position = "absolute"; copy.style.left = "-99999px";
    document.body.appendChild(copy);
    const text = copy.innerText;
    copy.remove();
    const charts = [...document.querySelectorAll(".js-plotly-plot svg text")].map((node) => node.textContent);
    return text + "\\n" + charts.join("\\n");
}"""


def _has_formulas(page: str) -> bool:
    """Whether the page script calls st.latex anywhere (then any formula it shows must render)."""
    tree = ast.parse((ROOT / "app_pages" / f"{page}.py").read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Attribute) and node.attr == "latex" for node in ast.walk(tree))


# Pages whose formulas are on screen as soon as they open (classify shows its own after a prediction).
FORMULAS_ON_ARRIVAL = {"home", "convolution"}


def _settle(browser_page, timeout: float = 60.0) -> None:
    """Wait until the page has a heading and Streamlit has stopped running the script."""
    browser_page.locator("h1").first.wait_for(timeout=timeout * 1000)
    settle(browser_page, timeout)


def _open_expanders(browser_page) -> None:
    """Open every collapsed expander (its body is inert until then) so its text counts too."""
    browser_page.evaluate("""document.querySelectorAll("[data-testid='stExpanderDetails'][inert]")
                             .forEach((node) => node.previousElementSibling.click())""")
    time.sleep(0.5)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_in_chinese(streamlit_server, browser_page, page):
    browser_page.goto(f"{streamlit_server}/{PAGES[page]}?lang=zh")
    _settle(browser_page)
    _open_expanders(browser_page)
    _settle(browser_page)
    assert browser_page.locator("[data-testid='stException']").count() == 0
    heading = browser_page.locator("h1").first.inner_text()
    shown = browser_page.evaluate(SHOWN_TEXT, UNTRANSLATABLE)
    assert CJK.search(heading) or page == "home", heading  # the home page's title is the product name
    main = browser_page.locator("[data-testid='stMain']").inner_text()
    assert len(CJK.findall(main)) >= 30, main[:500]  # the page itself speaks Chinese, not just the sidebar
    assert english_leftovers(shown) == []
    if page in FORMULAS_ON_ARRIVAL:
        assert _has_formulas(page) and browser_page.locator(".katex").count() > 0
    _formulas_render(browser_page)


def _formulas_render(browser_page) -> None:
    """KaTeX marks a formula it cannot typeset with .katex-error (shown as red source text)."""
    errors = browser_page.locator(".katex-error")
    assert errors.count() == 0, errors.first.inner_text()


def test_classify_results_in_chinese(streamlit_server, browser_page):
    """A prediction in Chinese: class names, probabilities and the softmax worked out, all rendered."""
    browser_page.goto(f"{streamlit_server}/classify?lang=zh")
    _settle(browser_page)
    options = open_options(browser_page, browser_page.locator("[data-testid='stMultiSelect']").first)
    labels = options.all_inner_texts()
    assert labels and all(CJK.search(label) for label in labels), labels  # no English "Select all" row
    options.first.click()
    browser_page.keyboard.press("Escape")
    browser_page.get_by_text(text("zh", "classify.math.title")).first.wait_for(timeout=120_000)  # a result
    _settle(browser_page, timeout=120)
    _open_expanders(browser_page)  # the lazy ones (the worked math among them) draw once opened
    _settle(browser_page, timeout=120)
    browser_page.locator(".katex").first.wait_for(timeout=60_000)
    shown = browser_page.evaluate(SHOWN_TEXT, UNTRANSLATABLE)
    assert any(name in shown for name in ("飞机", "汽车", "鸟", "猫", "鹿", "狗", "青蛙", "马", "船", "卡车"))
    assert english_leftovers(shown) == []
    assert browser_page.locator("[data-testid='stException']").count() == 0
    _formulas_render(browser_page)


def test_sidebar_navigation_keeps_chinese(streamlit_server, browser_page):
    browser_page.goto(f"{streamlit_server}/?lang=en")
    _settle(browser_page)
    assert "From pixels to a class, step by step" in english_leftovers(browser_page.evaluate(SHOWN_TEXT, UNTRANSLATABLE))
    browser_page.goto(f"{streamlit_server}/?lang=zh")  # a link with ?lang= wins over the session's choice
    browser_page.get_by_text("从像素到类别，一步一步来").wait_for(timeout=60_000)
    _settle(browser_page)
    navigation = browser_page.locator("[data-testid='stSidebarNav']")
    for title, path in (("卷积与池化", "/convolution"), ("训练 CNN", "/training"), ("首页", "/")):
        before = browser_page.locator("h1").first.inner_text()
        navigation.get_by_text(title, exact=True).click()
        browser_page.wait_for_url(lambda url: urlparse(url).path == path and "lang=zh" in url, timeout=30_000)
        browser_page.wait_for_function("(before) => document.querySelector('h1')?.innerText !== before", arg=before,
                                       timeout=60_000)
        _settle(browser_page)
        shown = browser_page.evaluate(SHOWN_TEXT, UNTRANSLATABLE)
        assert len(CJK.findall(shown)) > 100 and english_leftovers(shown) == [], title
    assert browser_page.locator("h1").first.inner_text() == "CNN Studio"

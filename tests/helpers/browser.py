"""Helpers for tests that drive the app in Debian chromium through Playwright."""

from __future__ import annotations

import re
import time

STATUS_WIDGET = "[data-testid='stStatusWidget']"  # shown while Streamlit runs the page script


def settle(page, timeout: float = 60.0) -> None:
    """Wait (bounded) until Streamlit has stopped running the script: three quiet looks in a row."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and quiet < 3:
        quiet = quiet + 1 if page.locator(STATUS_WIDGET).count() == 0 else 0
        time.sleep(0.3)


def pick_option(page, label: str, option: str) -> None:
    """Choose the option starting with `option` in the selectbox labelled `label`; wait until it is shown.

    A choice made while the script still runs (a first visit imports TensorFlow) is checked, not assumed:
    once the page is quiet the selectbox must show it.
    """
    settle(page)
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    box.click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}")).click()
    settle(page)
    shown = box.locator('input[role="combobox"]').input_value()  # the chosen option's text is the input's value
    assert shown.startswith(option), f"the {label!r} selectbox shows {shown!r}, not {option!r}"


def open_options(page, widget, attempts: int = 3, timeout_ms: int = 15_000):
    """Open a select widget's list of options and return their locator, retrying (bounded) a click that a rerun
    swallowed: under a loaded suite CI once saw no list 30 s after a single click."""
    options = page.locator("[role='option']")
    for attempt in range(1, attempts + 1):
        settle(page)
        widget.locator('input[role="combobox"]').click()
        try:
            options.first.wait_for(timeout=timeout_ms)
            return options
        except Exception:
            if attempt == attempts:
                raise
            page.keyboard.press("Escape")  # close whatever half-opened, then click again


def open_expander(page, title: str, timeout_ms: int = 60_000) -> None:
    """Open the collapsed expander whose summary reads `title` (a lazy one draws its body only once opened)."""
    settle(page)
    details = page.locator("[data-testid='stExpander'] details").filter(
        has=page.locator("summary", has_text=title)).first
    details.wait_for(timeout=timeout_ms)
    if details.get_attribute("open") is None:
        details.locator("summary").first.click()
    settle(page)


def classify_model_options(page, url: str) -> list[str]:
    """The models the classify page's picker offers this visitor (their texts: name · details)."""
    page.goto(url + "/classify")
    page.get_by_text("Upload photos").wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Model", exact=True)).first.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    return [options.nth(index).inner_text() for index in range(options.count())]

"""The router in Debian chromium: a page's own URL, opened first on a fresh server, shows that page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_direct_link_on_a_fresh_server_uses_the_apps_navigation(streamlit_server, browser_page):
    # Streamlit falls back to its legacy multipage mode (one sidebar entry per file, app.py skipped)
    # when a folder named `pages/` sits beside app.py and the first request is not for "/".
    page = browser_page
    page.goto(f"{streamlit_server}/convolution")
    page.get_by_text("Convolution output:").first.wait_for(timeout=60_000)
    navigation = page.locator("[data-testid='stSidebarNav']")
    navigation.wait_for(timeout=30_000)
    assert "Convolution & pooling" in navigation.inner_text()
    assert "Train a CNN" in navigation.inner_text()
    for file_name in ("app", "home", "convolution", "training"):
        assert page.locator("[data-testid='stSidebarNav']").get_by_text(file_name, exact=True).count() == 0

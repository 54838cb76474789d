"""A hostile visitor's class names in Debian chromium: another visitor opens the Runs tab, and a listener on
another local port (standing in for the attacker's server) receives nothing; the names read as typed."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from helpers.class_folders import class_files, write_zip
from helpers.hostile import hostile_names, write_finished_run

pytestmark = pytest.mark.browser

TIMEOUT_MS = 90_000  # the first visit imports TensorFlow on a shared 2-core machine


class Listener(http.server.ThreadingHTTPServer):
    """Records the path of every request it gets (it should get none)."""

    def __init__(self):
        self.requests: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                listener.requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        super().__init__(("127.0.0.1", port), Handler)
        self.host = f"127.0.0.1:{port}"


def test_a_run_with_hostile_class_names_makes_no_request_link_or_formula(streamlit_server, browser_page, app_dirs):
    listener = Listener()
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        names = sorted(hostile_names(listener.host))  # the class folders of an uploaded zip, as the run saw them
        files = class_files({name: (40 * index, 90, 200) for index, name in enumerate(names)}, 4)
        data = write_zip(app_dirs["data"] / "hostile.zip", {f"pets/{path}": image for path, image in files.items()})
        write_finished_run(app_dirs["runs"], "20260101-100000-aaaaaa", names, data=data)
        page = browser_page
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{streamlit_server}/training")
        page.get_by_role("tab", name="Runs", exact=True).click()
        page.locator(".js-plotly-plot").nth(1).wait_for()  # the per-class and confusion charts are drawn
        page.get_by_text("Misclassified test images").wait_for()  # the gallery, its captions the class names
        page.wait_for_timeout(1500)
        body = page.inner_text("body")
        assert listener.requests == []
        assert page.locator(f'a[href*="{listener.host}"], img[src*="{listener.host}"]').count() == 0
        assert page.locator(f'.js-plotly-plot a, [href*="{listener.host}"]').count() == 0
        assert page.locator(".katex", has_text="HUGE").count() == 0
        for name in ("$HUGE^{2}$", ":red[RED] alarm"):  # LaTeX and the colour directive read as typed
            assert name in body
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        listener.shutdown()

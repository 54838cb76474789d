"""How long until a visitor sees a page? From `streamlit run app.py` to the page rendered in Chromium.

    python bench/bench_startup.py [--runs 5]

Each run starts a fresh server on a free loopback port (the clock starts when the process is
spawned), polls its health endpoint, opens the home page in headless Debian chromium (launched
beforehand, not timed) and stops the clock when the home page's story heading is visible.
The reference is a one-line Streamlit app started and opened the same way, alternating with ours:
the floor that Streamlit itself costs on this machine. Goal (issue 2): ours <= 3 s.
Then, on a fresh server each, every page's own content (PAGES: its first control or table, not only its title),
timed from opening the page once the server answers. Goal (issue 29): each within 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GOAL_S = 3.0
HOME_TEXT = "From pixels to a class"
HELLO_APP = 'import streamlit as st\nst.title("Hello")\n'
PAGES = {  # url path -> a text that is the page's own content (what a visitor came for)
    "": HOME_TEXT, "convolution?lang=en": "Convolution output:", "training?lang=en": "42,442",  # the layer table
    "models?lang=en": "Compare models", "results?lang=en": "Class results", "classify?lang=en": "Upload photos",
}
PAGE_GOAL_S = 1.5
# A page of Streamlit's own widgets, the kinds ours use, without any of our code: the floor for a page with controls.
WIDGETS_APP = """import streamlit as st
st.title("Widgets")
st.radio("Kind", ["a", "b"], horizontal=True)
st.text_input("Path")
st.selectbox("Preset", ["x", "y"])
st.number_input("Epochs", 1, 10)
st.slider("Dropout", 0.0, 1.0)
st.checkbox("Flip")
st.latex(r"x^2")
st.dataframe({"a": [1, 2]})
st.file_uploader("Last control")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_to_render(page, script: Path, cwd: Path, text: str, path: str = "") -> tuple[float, float]:
    """(seconds until the server answered its health check, seconds from then until `text` was visible at `path`)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.perf_counter() - start > 60:
                    raise RuntimeError(f"{script.name} did not start within 60 s") from None
                time.sleep(0.02)
        healthy = time.perf_counter() - start
        page.goto(f"{url}/{path}")
        page.get_by_text(text).first.wait_for(timeout=60_000)
        return healthy, time.perf_counter() - start - (healthy if path else 0.0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    results: dict[str, list[tuple[float, float]]] = {"CNN Studio home": [], "reference (hello app)": []}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        hello = Path(folder) / "hello.py"
        hello.write_text(HELLO_APP)
        # Same server settings for both apps.
        (Path(folder) / ".streamlit").mkdir()
        (Path(folder) / ".streamlit" / "config.toml").write_text((ROOT / ".streamlit" / "config.toml").read_text())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.runs):
            for name, script, cwd, text in (("CNN Studio home", ROOT / "app.py", ROOT, HOME_TEXT),
                                            ("reference (hello app)", hello, Path(folder), "Hello")):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                results[name].append(time_to_render(page, script, cwd, text))
                page.close()
        browser.close()

    print(f"Process start -> page rendered in Chromium, median of {args.runs} runs:")
    medians = {}
    for name, runs in results.items():
        healthy = statistics.median(run[0] for run in runs)
        medians[name] = statistics.median(run[1] for run in runs)
        print(f"  {name:24s} {medians[name]:5.2f} s   (server healthy after {healthy:.2f} s)")
    ours, reference = medians["CNN Studio home"], medians["reference (hello app)"]
    print(f"  ratio ours / reference   {ours / reference:5.2f}x   goal: ours <= {GOAL_S:.0f} s: "
          f"{'met' if ours <= GOAL_S else 'NOT met'}")
    page_times(args.runs)


def page_times(runs: int) -> None:
    """Each page opened first on a fresh server: seconds from opening it to its own content, median of `runs`, beside
    a page of Streamlit's own widgets opened the same way."""
    print(f"Fresh server, then each page opened: seconds to its own content (median of {runs}; goal <= {PAGE_GOAL_S} s)")
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        widgets = Path(folder) / "widgets.py"
        widgets.write_text(WIDGETS_APP)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def median_seconds(script: Path, cwd: Path, text: str, path: str) -> float:
            seconds = []
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                seconds.append(time_to_render(page, script, cwd, text, path)[1])
                page.close()
            return statistics.median(seconds)

        floor = median_seconds(widgets, Path(folder), "Last control", "?")
        print(f"  {'(widgets page)':13s} {floor:5.2f} s  Streamlit's own controls, none of our code")
        for path, text in PAGES.items():
            median = median_seconds(ROOT / "app.py", ROOT, text, path or "?lang=en")
            print(f"  /{path.split('?')[0]:12s} {median:5.2f} s  {median / floor:4.2f}x the widgets page  "
                  f"{'met' if median <= PAGE_GOAL_S else 'NOT met'}")
        browser.close()


if __name__ == "__main__":
    main()

"""A class opens the classify page at the same moment: how long until each visitor sees the uploader and a result,
and what each costs the server, against a bare Streamlit page doing the same upload in the same run.

    python bench/bench_class.py [--visitors 1 10 30] [--rounds 3] [--timeout 300] [--with-nav]

Two servers on loopback, started the same way: CNN Studio in public mode (`streamlit run app.py`, fresh folders
with the shipped model) and a bare Streamlit app that takes the upload and draws one image and one Plotly bar
chart. For each N, N Chromium contexts (each its own cookies: N visitors) open the page at once, each uploads a
photo and waits for its result; the two servers take turns at each N, --rounds times (the first N=1 wave meets a cold
server: TensorFlow's import and the model's load). Printed per server and N, each figure the median over the rounds:
p50/p95 seconds
to the first control (the uploader) and to the result, failures (no result within --timeout), and the server
process's CPU seconds per visitor (user + system, from psutil: Chromium's own load shares the 2 cores but is not
counted), then CNN Studio's figures as ratios to the bare page's. Goals (issue 29): CPU per visitor <= 1.3x; at 10
visitors p95 to result <= 1.2x; at 30, no failure and p95 <= 1.3x. --with-nav adds a third server in the same turns:
the bare page inside a six-page navigation sidebar with three controls, the frame every CNN Studio page has.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # helpers: the tests' server starter and Chromium flags

from helpers.paths import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers.server import free_port, start_server, stop_server  # noqa: E402

PHOTO = ROOT / "cnn_core" / "sample_photos" / "chelsea.jpg"
RESULT = r"/chelsea\.jpg[:：] .+ \(\d+(\.\d)?%\)/"  # the classify page's headline, "chelsea.jpg: cat (97.1%)"
BARE_APP = '''import streamlit as st
import plotly.graph_objects as go
from PIL import Image

st.title("Classify images")
upload = st.file_uploader("Upload photos", type=["jpg", "png"])
if upload is not None:
    picture = Image.open(upload).convert("RGB")
    st.subheader(f"{upload.name}: cat (97.1%)")
    st.image(picture)
    st.plotly_chart(go.Figure(go.Bar(x=[0.971, 0.02, 0.009], y=["cat", "dog", "deer"], orientation="h")))
'''
# The bare page inside a multipage app's frame: a sidebar with six pages and three controls, as every CNN Studio page
# has (--with-nav): how much of the gap to the bare page the frame alone makes.
_BARE_IMPORTS, _BARE_BODY = BARE_APP.split("\n\n", 1)
NAV_APP = _BARE_IMPORTS + '''

st.set_page_config(page_title="CNN Studio", page_icon="🧠", layout="wide")
st.sidebar.selectbox("Language", ["English", "中文"])
st.sidebar.text_input("Your name (others see it)", value="student-ab12")
st.sidebar.caption("Anonymous visitor: your runs and models are kept for this browser.")


def classify():
''' + "".join(f"    {line}\n" for line in _BARE_BODY.splitlines()) + '''

pages = [st.Page(lambda: st.title("Other"), title=f"Page {i}", icon="🏠", url_path=f"p{i}") for i in range(5)]
st.navigation([*pages, st.Page(classify, title="Classify", icon="🏷️", url_path="classify")]).run()
'''


def start(script: Path, cwd: Path, env: dict[str, str]) -> tuple:
    """(process, url) of a `streamlit run script` on a free loopback port, once it answers its health check."""
    port = free_port()
    return start_server(port, env, None, script=script, cwd=cwd), f"http://127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def visit(browser, url: str, timeout: float) -> dict[str, float | None]:
    """One visitor: open the page, wait for the uploader, upload the photo, wait for the result (seconds)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(timeout * 1000)
    began, timings = time.perf_counter(), {"control": None, "result": None}
    try:
        await page.goto(url)
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload photos")
        await uploader.wait_for()
        timings["control"] = time.perf_counter() - began
        await uploader.locator('input[type="file"]').set_input_files(str(PHOTO))
        await page.locator(f"text={RESULT}").first.wait_for()
        timings["result"] = time.perf_counter() - began
    except Exception:  # a timeout: counted as a failure
        pass
    finally:
        await context.close()
    return timings


async def wave(url: str, visitors: int, timeout: float) -> list[dict[str, float | None]]:
    """`visitors` Chromium contexts arriving at once."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(*(visit(browser, url, timeout) for _ in range(visitors)))
        finally:
            await browser.close()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def measure(name: str, process: subprocess.Popen, url: str, visitors: int, timeout: float) -> dict:
    """One wave against one server: latencies, failures and the server's CPU per visitor."""
    before = cpu_seconds(process.pid)
    results = asyncio.run(wave(url, visitors, timeout))
    spent = cpu_seconds(process.pid) - before
    controls = [row["control"] for row in results if row["control"] is not None]
    finished = [row["result"] for row in results if row["result"] is not None]
    return {"server": name, "visitors": visitors, "failures": visitors - len(finished),
            "control_p50": percentile(controls, 0.5), "control_p95": percentile(controls, 0.95),
            "result_p50": percentile(finished, 0.5), "result_p95": percentile(finished, 0.95),
            "cpu_per_visitor": spent / visitors}


def ratio(ours: float | None, bare: float | None) -> str:
    return "-" if not ours or not bare else f"{ours / bare:.2f}x"


def medians(rows: list[dict]) -> list[dict]:
    """One row per server and N: each figure the median over that server's rounds at that N, failures summed."""
    merged = []
    for server, visitors in dict.fromkeys((row["server"], row["visitors"]) for row in rows):
        same = [row for row in rows if (row["server"], row["visitors"]) == (server, visitors)]
        figures = {key: statistics.median(values) if (values := [row[key] for row in same if row[key] is not None])
                   else None for key in same[0] if key not in ("server", "visitors")}
        merged.append({"server": server, "visitors": visitors, **figures,
                       "failures": sum(row["failures"] for row in same)})
    return merged


def report(rows: list[dict]) -> None:
    """The table, then CNN Studio against the bare page at each N."""
    print("| server | visitors | control p50 / p95 s | result p50 / p95 s | failures (all rounds) | server CPU s per visitor |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        cells = [f"{row[key]:.1f}" if row[key] is not None else "-" for key in
                 ("control_p50", "control_p95", "result_p50", "result_p95")]
        print(f"| {row['server']} | {row['visitors']} | {cells[0]} / {cells[1]} | {cells[2]} / {cells[3]} | "
              f"{row['failures']} | {row['cpu_per_visitor']:.2f} |")
    for visitors in sorted({row["visitors"] for row in rows}):
        ours, bare = (next(row for row in rows if row["visitors"] == visitors and row["server"] == name)
                      for name in ("cnn-studio", "bare"))
        print(f"N={visitors}: CPU per visitor {ratio(ours['cpu_per_visitor'], bare['cpu_per_visitor'])}, "
              f"p95 to control {ratio(ours['control_p95'], bare['control_p95'])}, "
              f"p95 to result {ratio(ours['result_p95'], bare['result_p95'])}, failures {ours['failures']} vs "
              f"{bare['failures']}")
        framed = next((row for row in rows if row["visitors"] == visitors and row["server"] == "bare+nav"), None)
        if framed:
            print(f"N={visitors}: the bare page in the frame alone: p95 to control "
                  f"{ratio(framed['control_p95'], bare['control_p95'])}, to result "
                  f"{ratio(framed['result_p95'], bare['result_p95'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--rounds", type=int, default=3, help="waves per N and server (the median is printed)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a visitor waits for a result")
    parser.add_argument("--with-nav", action="store_true",
                        help="also the bare page inside a six-page navigation sidebar (the frame every page has)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for name in ("models", "runs", "data"):
            (work / name).mkdir()
        shutil.copytree(ROOT / "models" / "cifar10-subset-best", work / "models" / "cifar10-subset-best")
        (work / "bare").mkdir()
        (work / "bare" / "app.py").write_text(BARE_APP)
        ours = start(ROOT / "app.py", ROOT, {"CNN_STUDIO_PUBLIC": "1", "CNN_STUDIO_MODELS_DIR": str(work / "models"),
                                             "CNN_STUDIO_RUNS_DIR": str(work / "runs"),
                                             "CNN_STUDIO_DATA_DIR": str(work / "data")})
        bare = start(work / "bare" / "app.py", work / "bare", {})
        servers = {"cnn-studio": (*ours, "/classify?lang=en"), "bare": (*bare, "")}
        if args.with_nav:
            (work / "nav").mkdir()
            (work / "nav" / "app.py").write_text(NAV_APP)
            servers["bare+nav"] = (*start(work / "nav" / "app.py", work / "nav", {}), "/classify")
        rows = []
        try:
            for visitors in args.visitors:  # the servers take turns at each N
                for _ in range(args.rounds):
                    for name, (process, url, path) in servers.items():
                        rows.append(measure(name, process, url + path, visitors, args.timeout))
                    print(json.dumps(rows[-len(servers):]), flush=True)
        finally:
            for process, _, _ in servers.values():
                stop_server(process)
    report(medians(rows))


if __name__ == "__main__":
    main()

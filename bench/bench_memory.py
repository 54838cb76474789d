"""Memory one visitor can take: eight flat 49-megapixel PNGs, on the classify page and then the convolution page.

    python bench/bench_memory.py [--images 8] [--side 7000]

Goals (issue 14): peak growth of the server's process tree <= 400 MB while a visitor uploads them, and back
within 100 MB of the start once the visitor's tab has closed. The app runs as `streamlit run app.py` on
loopback with temporary folders (the shipped model only); Debian chromium uploads. "Start" is measured after
a warm-up visit that imports TensorFlow and loads the model, so the figures are what the uploads cost.
The reference, in this process: the decoding the pages did before (a full-size RGB image, then a shrunk
copy) against `load_shrunk`, on one of the same PNGs; the ratio says how much less one upload holds.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # helpers.memory: the same sampler as the load test

from helpers.memory import PeakMemory, tree_rss  # noqa: E402
from helpers.server import free_port, start_server, stop_server  # noqa: E402

GOAL_PEAK_MB, GOAL_AFTER_MB = 400, 100
TIMEOUT_MS = 120_000
CHROMIUM = "/usr/bin/chromium"


def flat_png(side: int) -> bytes:
    """A one-colour RGB PNG: ~140 KB on disk, 49 megapixels (147 MB as RGB) once decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def start_app(folder: Path) -> tuple:
    """(process, url): the app on a free loopback port with its own folders (and a copy of the shipped model)."""
    shutil.copytree(ROOT / "models", folder / "models")
    env = {"CNN_STUDIO_RUNS_DIR": str(folder / "runs"), "CNN_STUDIO_DATA_DIR": str(folder / "data"),
           "CNN_STUDIO_MODELS_DIR": str(folder / "models")}
    port = free_port()
    return start_server(port, env, None), f"http://127.0.0.1:{port}"


def visit(browser, url: str, files: list[Path]) -> None:
    """One visitor: the classify page (all files at once), then the convolution page (one file after another)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/classify")
    page.get_by_text("Upload photos").wait_for()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload photos")
    uploader.locator('input[type="file"]').set_input_files([str(file) for file in files])
    page.get_by_text(f"{len(files)} images", exact=True).wait_for()
    page.get_by_text("Grad-CAM").first.wait_for()
    page.goto(f"{url}/convolution")
    conv = page.locator('[data-testid="stFileUploader"]').first
    for file in files:
        conv.locator('input[type="file"]').set_input_files(str(file))
        page.get_by_text("was shrunk").first.wait_for()
    context.close()


def reference(data: bytes) -> tuple[int, int]:
    """Peak RSS growth (bytes) of the old decoding (full RGB, then fit_for_display) and of load_shrunk."""
    from cnn_core.images import fit_for_display, load_image, load_shrunk

    def growth(work) -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        work()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024

    new = growth(lambda: load_shrunk(data))  # first: ru_maxrss only ever grows
    old = growth(lambda: fit_for_display(load_image(data)))
    return old, new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--side", type=int, default=7000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = flat_png(args.side)
    old, new = reference(data)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        folder = Path(name)
        files = []
        for index in range(args.images):
            files.append(folder / f"flat-{index}.png")
            files[-1].write_bytes(data)
        process, url = start_app(folder)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                warm = [folder / "warm-a.png", folder / "warm-b.png"]
                for index, file in enumerate(warm):
                    file.write_bytes(flat_png(1200 + index))
                visit(browser, url, warm)  # warm-up: TensorFlow, the model and its traced functions, both pages
                time.sleep(2)
                start = tree_rss(process.pid)
                sampler = PeakMemory(process.pid, interval=0.05)
                sampler.start()
                began = time.perf_counter()
                visit(browser, url, files)
                seconds = time.perf_counter() - began
                time.sleep(5)  # the closed tab's session is dropped
                sampler.stop()
                after = tree_rss(process.pid)
                browser.close()
        finally:
            stop_server(process)
    mb = 2**20
    print(f"{args.images} flat {args.side}x{args.side} PNGs ({len(data) / 1e3:.0f} KB each), classify then convolution:"
          f" {seconds:.1f} s")
    print(f"server tree RSS: start {start / mb:.0f} MB, peak {sampler.peak / mb:.0f} MB "
          f"(+{(sampler.peak - start) / mb:.0f} MB, goal <= {GOAL_PEAK_MB}), after the tab closed "
          f"{after / mb:.0f} MB ({(after - start) / mb:+.0f} MB, goal within {GOAL_AFTER_MB})")
    print(f"one upload, this process: full decode + shrink +{old / mb:.0f} MB, load_shrunk +{new / mb:.0f} MB "
          f"(ratio {old / max(new, 1):.1f}x)")
    ok = sampler.peak - start <= GOAL_PEAK_MB * mb and abs(after - start) <= GOAL_AFTER_MB * mb
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

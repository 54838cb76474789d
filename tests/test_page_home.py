"""The home page under AppTest: it tells the story, links every page, and never loads TensorFlow."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def test_home_tells_the_story_and_links_every_page():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [item.value for item in at.exception]
    assert at.title[0].value == "CNN Studio"
    story = " ".join(item.value for item in at.markdown)
    positions = [story.index(step) for step in ("Image", "Convolution", "Pooling", "Dense", "Softmax", "Class")]
    assert positions == sorted(positions)  # the steps appear in the order an image flows through a CNN
    targets = {link.proto.page for link in at.get("page_link")}
    assert targets == {"convolution", "training", "classify"}
    # The live example: image -> 3x3 Sobel x (valid) -> 2x2 max pool of the 256x256 "Shapes" sample.
    sizes = [re.findall(r"\d+×\d+", image.proto.imgs[0].caption)[-1] for image in at.image]
    assert sizes == ["256×256", "254×254", "127×127"]


def test_home_links_open_their_pages():
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/convolution.py").run()
    assert not at.exception and at.title[0].value == "Convolution & pooling"


def test_home_and_convolution_pages_do_not_import_tensorflow():
    """Run both pages in a fresh interpreter and look at what got imported."""
    code = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60).run()
assert not at.exception, at.exception
at.switch_page("app_pages/convolution.py").run()
assert not at.exception, at.exception
assert at.get("plotly_chart"), "the convolution page did not render its charts"
loaded = sorted(name for name in ("tensorflow", "keras") if name in sys.modules)
print("LOADED", loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stdout

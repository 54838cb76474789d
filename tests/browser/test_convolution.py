"""The whole flow in Debian chromium: home page -> convolution page -> upload a picture -> feature maps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def test_upload_an_image_and_see_its_feature_maps(streamlit_server, browser_page, tmp_path):
    # A 120 x 200 picture with a bright square: strong vertical edges for the default Sobel x kernel.
    picture = np.full((120, 200, 3), 40, dtype=np.uint8)
    picture[30:90, 60:140] = 220
    path = tmp_path / "square.png"
    Image.fromarray(picture).save(path)

    page = browser_page
    page.goto(streamlit_server)
    page.get_by_text("From pixels to a class").wait_for(timeout=60_000)
    page.get_by_role("link", name="See convolution at work").click()
    page.get_by_text("Convolution output:").first.wait_for(timeout=60_000)

    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("Input: 120 × 200").wait_for(timeout=60_000)
    page.get_by_text("Convolution output: 118 × 198").wait_for(timeout=30_000)
    page.get_by_text("After pooling: 59 × 99").wait_for(timeout=30_000)
    assert page.get_by_text("square.png").count() >= 1
    # Input, three feature maps and the window's patch, kernel and products are drawn by Plotly.
    charts = page.locator(".js-plotly-plot")
    charts.nth(6).wait_for(timeout=30_000)
    assert charts.count() == 7
    assert page.locator("[data-testid='stException']").count() == 0

    # A bad file gets a readable error instead of a traceback.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are not pixels")
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("could not be used").wait_for(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0


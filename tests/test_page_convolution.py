"""The convolution page under AppTest: widgets change the numbers, uploads work, bad input gets a clear message."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from streamlit.testing.v1 import AppTest

from cnn_core import images, kernels, samples

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _open_page(state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page("app_pages/convolution.py").run()
    _no_errors(at)
    return at


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [item.value for item in at.exception]


def _shape(at: AppTest, label: str) -> tuple[int, ...]:
    """The shape printed as '**<label>:** 298 × 449' under a map."""
    for item in at.markdown:
        match = re.match(rf"\*\*{re.escape(label)}:\*\* ([\d × ]+)", item.value)
        if match:
            return tuple(int(n) for n in match.group(1).split("×"))
    raise AssertionError(f"no shape shown for {label}")


def _checked_value(at: AppTest) -> tuple[int, int, float]:
    """(row, col, value) from the caption that states the convolution output at the chosen window."""
    for item in at.caption:
        match = re.match(r"Check: the convolution output at \((\d+), (\d+)\) is (\S+)\.", item.value)
        if match:
            return int(match.group(1)), int(match.group(2)), float(match.group(3))
    raise AssertionError("no window value shown")


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _sample_grey() -> np.ndarray:
    return images.to_grayscale_array(samples.load_sample(samples.sample_names()[0])).astype(np.float64)


def test_default_page_shows_every_stage_with_its_shape():
    at = _open_page()
    height, width = _sample_grey().shape
    assert _shape(at, "Input") == (height, width)
    assert _shape(at, "Convolution output") == (height - 2, width - 2)  # 3x3, valid
    assert _shape(at, "After ReLU") == (height - 2, width - 2)
    assert _shape(at, "After pooling") == ((height - 2) // 2, (width - 2) // 2)
    assert len(at.get("plotly_chart")) == 7  # input, 3 maps, patch, kernel, products
    # The output-size formula is evaluated with the current numbers, for rows and columns.
    assert [item.value.strip("$\n").rsplit("=", 1)[1].strip() for item in at.latex[:2]] == [str(height - 2), str(width - 2)]


def test_window_value_matches_scipy_for_the_default_sobel_kernel():
    at = _open_page()
    row, col, value = _checked_value(at)
    reference = ndimage.correlate(_sample_grey(), kernels.preset_kernel("Sobel x").astype(np.float64), mode="constant")
    assert value == pytest.approx(reference[row + 1, col + 1], rel=1e-3, abs=1e-3)


def test_stride_padding_and_pooling_widgets_change_the_shapes():
    at = _open_page()
    height, width = _sample_grey().shape
    next(s for s in at.slider if s.label == "Stride").set_value(2).run()
    assert _shape(at, "Convolution output") == ((height - 3) // 2 + 1, (width - 3) // 2 + 1)
    next(s for s in at.selectbox if s.label == "Padding").set_value("same").run()
    assert _shape(at, "Convolution output") == (-(-height // 2), -(-width // 2))
    next(s for s in at.selectbox if s.label == "Pooling").set_value("none").run()
    assert any("Pooling is off" in item.value for item in at.info)
    _no_errors(at)


def test_changing_the_preset_and_editing_a_weight_change_the_output():
    at = _open_page()
    next(s for s in at.selectbox if s.label == "Preset").set_value("Identity").run()
    row, col, value = _checked_value(at)
    assert value == pytest.approx(_sample_grey()[row + 1, col + 1])  # identity copies the pixel
    # Cell edits of the keyed kernel editor are seeded through session state, as a browser would send them.
    at.session_state["kernel-Identity-3x3"] = {"edited_rows": {1: {"2": 3.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _no_errors(at)
    grey = _sample_grey()
    assert _checked_value(at)[2] == pytest.approx(grey[row + 1, col + 1] * 3)


def test_upload_replaces_the_sample_and_is_computed_on():
    gradient = np.tile(np.arange(0, 240, 4, dtype=np.uint8), (40, 1))  # 40 x 60, brighter to the right
    at = _open_page()
    at.file_uploader[0].set_value(("gradient.png", _png(np.dstack([gradient] * 3)), "image/png")).run()
    _no_errors(at)
    assert _shape(at, "Input") == (40, 60)
    assert _shape(at, "Convolution output") == (38, 58)
    assert _checked_value(at)[2] == pytest.approx(4 * 2 * 4)  # Sobel x on a ramp of 4 per pixel: 4 * (1+2+1) * 2


def test_large_upload_is_shrunk_with_a_note():
    at = _open_page()
    big = np.zeros((1200, 1600, 3), dtype=np.uint8)
    at.file_uploader[0].set_value(("big.png", _png(big), "image/png")).run()
    _no_errors(at)
    assert any("1600×1200" in item.value and "shrunk" in item.value for item in at.info)
    assert _shape(at, "Input") == (768, 1024)


@pytest.mark.parametrize("data, message", [(b"this is not an image", "not a picture"), (b"%PDF-1.7 ...", "PDF")])
def test_bad_upload_shows_a_clear_error(data, message):
    at = _open_page()
    at.file_uploader[0].set_value(("file.png", data, "image/png")).run()
    assert at.error and message in at.error[0].value and "file.png" in at.error[0].value
    assert not at.get("plotly_chart")


def test_kernel_that_does_not_fit_shows_an_error():
    at = _open_page()
    at.file_uploader[0].set_value(("tiny.png", _png(np.zeros((3, 3, 3), dtype=np.uint8)), "image/png")).run()
    # 3x3 valid convolution leaves 1x1: too small for 2x2 pooling.
    assert at.error and "2x2 pooling window does not fit the 1x1 map" in at.error[0].value
    next(s for s in at.radio if s.label == "Size").set_value(5).run()
    assert at.error and "5x5 kernel" in at.error[0].value and "does not fit the 3x3 image" in at.error[0].value


def test_rgb_modes_and_channel_choice():
    at = _open_page()
    next(r for r in at.radio if r.label == "Colour").set_value("RGB").run()
    height, width = _sample_grey().shape
    assert _shape(at, "Convolution output") == (height - 2, width - 2, 3)
    next(r for r in at.radio if r.label == "Channel to show").set_value("Blue").run()
    rgb = images.to_array(samples.load_sample(samples.sample_names()[0])).astype(np.float64)
    row, col, value = _checked_value(at)
    sobel = kernels.preset_kernel("Sobel x").astype(np.float64)
    assert value == pytest.approx(ndimage.correlate(rgb[:, :, 2], sobel, mode="constant")[row + 1, col + 1], abs=1e-3)
    next(r for r in at.radio if r.label.startswith("How the kernel")).set_value(
        "Summed over channels (one Conv2D filter)").run()
    assert _shape(at, "Convolution output") == (height - 2, width - 2)
    row, col, value = _checked_value(at)
    summed = sum(ndimage.correlate(rgb[:, :, c], sobel, mode="constant") for c in range(3))
    assert value == pytest.approx(summed[row + 1, col + 1], abs=1e-2)


def test_kernel_from_model_is_offered_and_used():
    at = _open_page({"kernel_from_model": [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]})
    assert next(s for s in at.selectbox if s.label == "Preset").value == "From model"
    row, col, value = _checked_value(at)
    assert value == pytest.approx(2 * _sample_grey()[row + 1, col + 1])


def test_window_sliders_move_the_window():
    at = _open_page()
    next(s for s in at.slider if s.label == "Output row").set_value(0).run()
    next(s for s in at.slider if s.label == "Output column").set_value(5).run()
    assert _checked_value(at)[:2] == (0, 5)
    assert any("rows 0…2 and columns 5…7" in item.value for item in at.markdown)

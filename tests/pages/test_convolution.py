"""The convolution page under AppTest: widgets change the numbers, uploads work, bad input gets a clear message,
and the whole page speaks Chinese with ?lang=zh. Widgets are found by their keys, which no language changes."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from streamlit.testing.v1 import AppTest

from cnn_core import images, samples
from cnn_core.convolution import figures, kernels

from helpers.paths import APP
from helpers.text import english_leftovers


def _open_page(state: dict | None = None, language: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    if language:
        at.query_params["lang"] = language
    at.run()
    at.switch_page("app_pages/convolution.py").run()
    _no_errors(at)
    return at


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [item.value for item in at.exception]


def _shape(at: AppTest, label: str) -> tuple[int, ...]:
    """The shape printed as '**<label>:** 298 × 449' (or '**<label>：** ...' in Chinese) under a map."""
    for item in at.markdown:
        match = re.match(rf"\*\*{re.escape(label)}[:：]\*\* ([\d × ]+)", item.value)
        if match:
            return tuple(int(n) for n in match.group(1).split("×"))
    raise AssertionError(f"no shape shown for {label}")


CHECK = {"en": r"Check: the convolution output at \((\d+), (\d+)\) is (\S+)\.",
         "zh": r"核对：位置 \((\d+), (\d+)\) 的卷积输出为 (\S+)。"}


def _checked_value(at: AppTest, language: str = "en") -> tuple[int, int, float]:
    """(row, col, value) from the caption that states the convolution output at the chosen window."""
    for item in at.caption:
        match = re.match(CHECK[language], item.value)
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
    reference = ndimage.correlate(_sample_grey(), kernels.preset_kernel("sobel_x").astype(np.float64), mode="constant")
    assert value == pytest.approx(reference[row + 1, col + 1], rel=1e-3, abs=1e-3)


def test_stride_padding_and_pooling_widgets_change_the_shapes():
    at = _open_page()
    height, width = _sample_grey().shape
    at.slider(key="stride").set_value(2).run()
    assert _shape(at, "Convolution output") == ((height - 3) // 2 + 1, (width - 3) // 2 + 1)
    at.selectbox(key="padding").set_value("same").run()
    assert _shape(at, "Convolution output") == (-(-height // 2), -(-width // 2))
    at.selectbox(key="pool_mode").set_value("none").run()
    assert any("Pooling is off" in item.value for item in at.info)
    _no_errors(at)


def test_changing_the_preset_and_editing_a_weight_change_the_output():
    at = _open_page()
    at.selectbox(key="preset").set_value("identity").run()
    row, col, value = _checked_value(at)
    assert value == pytest.approx(_sample_grey()[row + 1, col + 1])  # identity copies the pixel
    # Cell edits of the keyed kernel editor are seeded through session state, as a browser would send them.
    at.session_state["kernel-identity-3x3"] = {"edited_rows": {1: {"2": 3.0}}, "added_rows": [], "deleted_rows": []}
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
    assert at.error and "2×2 pooling window does not fit the 1×1 feature map" in at.error[0].value
    at.radio(key="size-sobel_x").set_value(5).run()
    assert at.error and "5x5 kernel does not fit the 3×3 image" in at.error[0].value
    assert not at.exception


def test_rgb_modes_and_channel_choice():
    at = _open_page()
    at.radio(key="colour").set_value("rgb").run()
    height, width = _sample_grey().shape
    assert _shape(at, "Convolution output") == (height - 2, width - 2, 3)
    at.radio(key="channel").set_value("blue").run()
    rgb = images.to_array(samples.load_sample(samples.sample_names()[0])).astype(np.float64)
    row, col, value = _checked_value(at)
    sobel = kernels.preset_kernel("sobel_x").astype(np.float64)
    assert value == pytest.approx(ndimage.correlate(rgb[:, :, 2], sobel, mode="constant")[row + 1, col + 1], abs=1e-3)
    at.radio(key="summed").set_value(True).run()
    assert _shape(at, "Convolution output") == (height - 2, width - 2)
    row, col, value = _checked_value(at)
    summed = sum(ndimage.correlate(rgb[:, :, c], sobel, mode="constant") for c in range(3))
    assert value == pytest.approx(summed[row + 1, col + 1], abs=1e-2)


def test_kernel_from_model_is_offered_and_used():
    at = _open_page({"kernel_from_model": [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]})
    assert at.selectbox(key="preset").value == "from_model"
    row, col, value = _checked_value(at)
    assert value == pytest.approx(2 * _sample_grey()[row + 1, col + 1])


def test_window_sliders_move_the_window():
    at = _open_page()
    next(s for s in at.slider if s.label == "Output row").set_value(0).run()
    next(s for s in at.slider if s.label == "Output column").set_value(5).run()
    assert _checked_value(at)[:2] == (0, 5)
    assert any("rows 0…2 and columns 5…7" in item.value for item in at.markdown)


# --- In Chinese ---


def _shown_text(at: AppTest) -> str:
    """Headings, Markdown, captions, notes, widget labels and the options shown in menus."""
    parts = [item.value for kind in (at.title, at.subheader, at.markdown, at.caption, at.info, at.error)
             for item in kind]
    widgets = [*at.selectbox, *at.radio, *at.slider, *at.number_input, *at.toggle, *at.expander]
    parts += [widget.label for widget in widgets] + [widget.proto.help for widget in widgets if hasattr(widget.proto, "help")]
    parts += [str(option) for widget in [*at.selectbox, *at.radio] for option in widget.options]
    return "\n".join(parts)


def test_chinese_page_shows_chinese_and_still_computes():
    at = _open_page(language="zh")
    assert at.title[0].value == "卷积与池化"
    text = _shown_text(at)
    assert english_leftovers(text) == [], english_leftovers(text)
    assert "高斯模糊" in at.selectbox(key="preset").options and "棋盘格" in at.selectbox(key="sample").options
    assert at.slider(key="stride").label == "步幅" and "为什么每次卷积之后都要接 ReLU？" in text
    height, width = _sample_grey().shape
    assert _shape(at, "卷积输出") == (height - 2, width - 2)
    at.slider(key="stride").set_value(2).run()
    _no_errors(at)
    assert _shape(at, "卷积输出") == ((height - 3) // 2 + 1, (width - 3) // 2 + 1)
    row, col, value = _checked_value(at, "zh")
    reference = ndimage.correlate(_sample_grey(), kernels.preset_kernel("sobel_x").astype(np.float64), mode="constant")
    assert value == pytest.approx(reference[2 * row + 1, 2 * col + 1], rel=1e-3, abs=1e-3)


def test_chinese_errors_and_notes():
    at = _open_page(language="zh")
    at.selectbox(key="pool_mode").set_value("none").run()
    assert any(item.value == "池化已关闭。" for item in at.info)
    at.selectbox(key="pool_mode").set_value("max").run()
    at.file_uploader[0].set_value(("tiny.png", _png(np.zeros((3, 3, 3), dtype=np.uint8)), "image/png")).run()
    assert at.error and at.error[0].value.startswith("2×2 的池化窗口放不进 1×1 的特征图")
    at.radio(key="size-sobel_x").set_value(5).run()
    assert at.error and at.error[0].value.startswith("在当前的填充和膨胀设置下，5x5 卷积核放不进 3×3 的图像")
    at.file_uploader[0].set_value(("notes.png", b"not pixels", "image/png")).run()
    assert at.error and at.error[0].value.startswith("无法使用 **notes.png**：") and not at.exception
    assert "无法识别这个文件中的图片" in at.error[0].value  # the reason too, not only the lead-in
    assert "not a picture" not in at.error[0].value


def test_formulas_carry_the_current_numbers():
    at = _open_page()
    height, width = _sample_grey().shape
    latex = [item.value.strip("$\n") for item in at.latex]
    # Output size for rows and columns, then the window's sum with all 9 products, ReLU and max pooling.
    assert latex[0].endswith(f"= {height - 2}") and f"\\frac{{{width} + 2\\cdot 0" in latex[1]
    row, col, value = _checked_value(at)
    window_sum = next(formula for formula in latex if formula.startswith("\\begin{aligned}"))
    assert window_sum.count("\\cdot") == 9 and f"y_{{{row},{col}}}" in window_sum
    relu = next(formula for formula in latex if re.match(r"\\operatorname\{ReLU\}\(-?\d", formula))
    assert relu.endswith(f"= {figures._number(max(value, 0.0))}")
    pooled = next(formula for formula in latex if formula.startswith("p_{"))
    assert "\\max\\begin{pmatrix}" in pooled
    at.selectbox(key="pool_mode").set_value("avg").run()
    assert any(formula.startswith("p_{") and "\\operatorname{mean}" in formula for formula in (i.value.strip("$\n") for i in at.latex))
    at.toggle(key="relu").set_value(False).run()
    assert not any(re.match(r"\\operatorname\{ReLU\}\(-?\d", item.value.strip("$\n")) for item in at.latex)

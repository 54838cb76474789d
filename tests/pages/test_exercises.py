"""Predict, then reveal on the convolution and training pages, through AppTest in English and Chinese:
the questions follow the page's settings, a guess is checked against the answer, the score counts each
question once, and a bad guess gets a message instead of a traceback."""

from __future__ import annotations

import re

import keras
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model

from helpers.paths import APP
from helpers.text import CJK, english_leftovers

SCORE = {"en": "Your score this session: {right} right out of {tried} tried.",
         "zh": "本次会话的得分：答对 {right} 题，共尝试 {tried} 题。"}


def open_page(page: str, language: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = language
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def answer(at: AppTest, key: str, guess: str) -> AppTest:
    at.text_input(key=f"guess_{key}").set_value(guess)
    index = int(key.rsplit("_", 1)[1])
    place = key.rsplit("_", 1)[0]
    buttons = [button for button in at.get("form_submit_button") if button.form_id == f"exercise_{place}_{index}"]
    return buttons[0].click().run()


def markdown_texts(at: AppTest) -> list[str]:
    return [item.value for item in at.markdown]


QUESTION = {"en": r"An image side of \*\*(\d+)\*\* pixels, a kernel \*\*(\d+)\*\* wide, stride \*\*(\d+)\*\*, "
                   r"padding \*\*(\w+)\*\*, dilation \*\*(\d+)\*\*",
            "zh": r"图像一边有 \*\*(\d+)\*\* 个像素，卷积核宽 \*\*(\d+)\*\*，步长 \*\*(\d+)\*\*，填充 \*\*(\w+)\*\*，"
                  r"膨胀 \*\*(\d+)\*\*"}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_convolution_page_output_size_question_follows_the_settings(app_dirs, language):
    at = open_page("app_pages/convolution.py", language)
    at.slider(key="stride").set_value(2).run()
    n, k, stride, padding, dilation = next(match.groups() for text in markdown_texts(at)
                                           if (match := re.search(QUESTION[language], text)))
    assert int(stride) == 2
    conv = keras.layers.Conv2D(1, int(k), strides=2, padding=padding, dilation_rate=int(dilation))
    expected = int(conv.compute_output_shape((1, int(n), int(n), 1))[1])
    at = answer(at, "convolution_0", str(expected + 1))  # wrong first: it counts
    assert any(SCORE[language].format(right=0, tried=1) == text for text in markdown_texts(at))
    assert at.error and str(expected) in at.error[0].value
    at = answer(at, "convolution_0", str(expected))  # right now, but a question only counts once
    assert any(SCORE[language].format(right=0, tried=1) == text for text in markdown_texts(at))
    assert at.success and any(r"\left\lfloor" in latex.value for latex in at.latex)
    at = answer(at, "convolution_2", "lots")
    assert not at.exception and at.warning
    if language == "zh":
        shown = "\n".join(markdown_texts(at) + [item.value for item in at.warning])
        assert CJK.search(shown) and english_leftovers(shown) == []


@pytest.mark.parametrize("language", ["en", "zh"])
def test_training_page_parameter_questions_match_keras(app_dirs, language):
    at = open_page("app_pages/training.py", language)
    model = build_model(TrainConfig(), num_classes=10)  # the page opens on the default settings
    first = model.get_layer("block1_conv1").count_params()
    at = answer(at, "training_1", f"{first:,}")
    assert at.success, [item.value for item in at.error]
    at = answer(at, "training_2", str(model.get_layer("predictions").count_params()))
    assert len(at.success) == 2
    assert any(SCORE[language].format(right=2, tried=2) == text for text in markdown_texts(at))
    assert keras.__version__  # the page's Keras and this one are the same

"""Predict, then reveal in Debian chromium, in English and Chinese: a guess on the convolution page is checked,
the worked answer renders as KaTeX, and the session score counts it."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

WORDS = {"en": ("Predict, then reveal", "Check", "Not quite: you said 1", "Your score this session: 0 right out of 1 tried."),
         "zh": ("先预测，再揭晓", "检查", "不太对：你的答案是 1", "本次会话的得分：答对 0 题，共尝试 1 题。")}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_wrong_guess_shows_the_worked_answer_and_counts(streamlit_server, browser_page, language):
    title, check, wrong, score = WORDS[language]
    page = browser_page
    page.set_default_timeout(60_000)
    page.goto(f"{streamlit_server}/convolution?lang={language}")
    expander = page.locator('[data-testid="stExpander"]').filter(has_text=title)
    expander.get_by_text(title).first.click()
    expander.locator("input[type=text]").first.fill("1")
    expander.get_by_role("button", name=check).first.click()
    expander.get_by_text(re.compile(re.escape(wrong))).wait_for()
    expander.get_by_text(score).wait_for()
    assert expander.locator(".katex").count() >= 3  # the window's and pool's matrices and the worked answer
    assert page.locator(".katex-error").count() == 0
    assert page.locator("[data-testid='stException']").count() == 0

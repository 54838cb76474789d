"""Not a page: "Predict, then reveal" exercises, shown on the convolution and training pages.

The questions come from cnn_core.convolution.exercises, built from the settings the learner is looking at. Each one
is a small form (typing does not rerun the page); a check shows right or wrong and the worked answer.
The score counts each question's first check, lives in the session (one per browser tab) and never
blocks anything: the exercises sit in a collapsed expander below the page's own content.
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts.language import error_text, t
from cnn_core.convolution.exercises import EXACT, Exercise, ExerciseError, check, training_exercises

SCORE_KEY = "exercise_score"  # {"right": n, "tried": n, "answers": {identity: (guess, right)}}
SEED_KEY = "exercise_seed"  # bumped by "New numbers": the random windows and scores change


def seed() -> int:
    """This session's exercise seed (0 until the learner asks for new numbers)."""
    return int(st.session_state.get(SEED_KEY, 0))


def for_training(config, rows: list[dict], num_classes: int) -> list[Exercise]:
    """The training page's questions from its config and layer table (the last layer's inputs come from the table)."""
    head = [row for row in rows if row["layer"] != "predictions" and not row["layer"].startswith("dropout")]
    inputs = int(head[-1]["output_shape"][-1]) if head else 1
    return training_exercises(config.kernel_size, config.filters[0], config.padding, config.batch_norm, inputs,
                              num_classes, seed=seed())


def exercises_section(exercises: list[Exercise], place: str) -> None:
    """The expander with every exercise and the session's score; `place` keeps widget keys apart per page."""
    score = st.session_state.setdefault(SCORE_KEY, {"right": 0, "tried": 0, "answers": {}})
    with st.expander(t("exercises.title")):
        st.caption(t("exercises.intro"))
        for number, exercise in enumerate(exercises):
            one_exercise(exercise, f"{place}_{number}", score)
        st.markdown(t("exercises.score", right=score["right"], tried=score["tried"]))
        if st.button(t("exercises.new"), key=f"exercises_new_{place}"):
            st.session_state[SEED_KEY] = seed() + 1
            st.rerun()


def one_exercise(exercise: Exercise, key: str, score: dict) -> None:
    """The question, a guess box with a check button, and once checked the verdict and the worked answer."""
    st.markdown(t(f"exercises.{exercise.kind}.question", **exercise.values))
    with st.form(f"exercise_{key}", border=False, enter_to_submit=True):
        guess = st.text_input(t("exercises.guess"), key=f"guess_{key}")
        submitted = st.form_submit_button(t("exercises.check"))
    if submitted and guess.strip():
        try:
            right = check(exercise, guess)
        except ExerciseError as error:
            st.warning(error_text(error))
            return
        if exercise.identity not in score["answers"]:  # only a question's first check counts
            score["tried"] += 1
            score["right"] += int(right)
        score["answers"][exercise.identity] = (guess, right)
    if exercise.identity in score["answers"]:
        reveal(exercise, *score["answers"][exercise.identity])


def reveal(exercise: Exercise, guess: str, right: bool) -> None:
    """Right or wrong, then the worked answer."""
    answer = f"{exercise.answer:,.0f}" if exercise.tolerance == EXACT else f"{exercise.answer:.4g}"
    if right:
        st.success(t("exercises.right", answer=answer))
    else:
        st.error(t("exercises.wrong", guess=guess, answer=answer))
    st.caption(t("exercises.worked"))
    st.latex(exercise.worked)

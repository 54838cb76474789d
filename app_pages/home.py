"""Home: what CNN Studio teaches, the path an image takes through a CNN, and a link to each page.

Works offline and renders fast: a drawn sample and three numpy operations, no TensorFlow.
Every word comes from locales/<language>/home.toml (and math.toml for the formulas' words).
"""

import streamlit as st

from app_pages.parts.language import t
from cnn_core import images, samples
from cnn_core.convolution import figures, kernels, ops

STEPS = [  # (step id in home.toml, icon, the page that shows it at work)
    ("image", "🖼️", "app_pages/convolution.py"),
    ("convolution", "🔍", "app_pages/convolution.py"),
    ("pooling", "⬇️", "app_pages/convolution.py"),
    ("dense", "🧮", "app_pages/training.py"),
    ("softmax", "📊", "app_pages/classify.py"),
    ("class", "🏷️", "app_pages/classify.py"),
]
PAGES = [("convolution", "🔍"), ("training", "🏋️"), ("classify", "🏷️")]
FORMULAS = [  # (topic in math.toml, its formulas)
    ("convolution", [figures.CONVOLUTION_SUM]),
    ("output_size", [figures.OUTPUT_SIZE]),
    ("relu", [figures.RELU]),
    ("pooling", [figures.MAX_POOL, figures.AVG_POOL]),
    ("dense", [figures.DENSE]),
    ("softmax", [figures.SOFTMAX]),
    ("cross_entropy", [figures.CROSS_ENTROPY]),
    ("gradient_step", [figures.GRADIENT_STEP]),
]


def story_section() -> None:
    """The story: every CNN in this app follows the same path, one card per step."""
    st.subheader(t("home.story.heading"))
    for number, (column, (step, icon, page)) in enumerate(zip(st.columns(len(STEPS)), STEPS), start=1):
        with column.container(border=True, height="stretch"):
            st.markdown(f"**{number} · {icon} {t(f'home.story.{step}.name')}**")
            st.caption(t(f"home.story.{step}.text"))
            st.page_link(page, label=t("home.story.explore"), icon="➡️")


def example_section() -> None:
    """A sample picture, its Sobel edges and the pooled map: the first steps of the path, computed live."""
    st.markdown(t("home.example.intro"))
    picture = images.to_grayscale_array(samples.load_sample("Shapes"))
    edges = ops.conv2d(picture, kernels.preset_kernel("sobel_x"))
    pooled = ops.pool2d(ops.relu(edges), 2)
    limit = figures.colour_limit(edges)
    stages = st.columns(3)
    stages[0].image(picture, width="stretch", caption=t("home.example.image", height=picture.shape[0], width=picture.shape[1]))
    stages[1].image(figures.signed_map_image(edges, limit), width="stretch",
                    caption=t("home.example.convolution", height=edges.shape[0], width=edges.shape[1]))
    stages[2].image(figures.signed_map_image(pooled, limit), width="stretch",
                    caption=t("home.example.pooled", height=pooled.shape[0], width=pooled.shape[1]))


def pages_section() -> None:
    """What each page does, with a link to it."""
    st.subheader(t("home.pages.heading"))
    for column, (page, icon) in zip(st.columns(len(PAGES)), PAGES):
        with column.container(border=True, height="stretch"):
            st.markdown(f"#### {icon} {t(f'home.pages.{page}.title')}")
            st.markdown(t(f"home.pages.{page}.text"))
            st.page_link(f"app_pages/{page}.py", label=t(f"home.pages.{page}.link"), icon=icon)


def math_section() -> None:
    """Every formula of the path above, each with a sentence in words."""
    with st.expander(t("home.math_heading")):
        for topic, formulas in FORMULAS:
            st.markdown(t(f"math.{topic}.words"))
            for formula in formulas:
                st.latex(formula)
        st.markdown(f"**{t('math.faq.why_dense_last.question')}**")
        st.caption(t("math.faq.why_dense_last.answer"))


st.title(t("home.title"))
st.markdown(t("home.intro"))
story_section()
example_section()
pages_section()
math_section()

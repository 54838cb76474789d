"""Not a page: the math beside each group of training settings, with this model's own numbers plugged in.

Each lesson draws into the column next to its group of widgets (see `setup.config_section`):
the dense layer y = Wx + b with the real matrix sizes, what augmentation does to a pixel, one optimizer
step and the learning-rate schedule, softmax and cross-entropy with label smoothing. The tutorial's
questions that belong to a group are answered below it (`questions`). Formulas are language-neutral
LaTeX, a few short lines each so that they fit a half-width column; every word comes from
`locales/<language>/training_lessons.toml`, every number from `cnn_core.training.view` (tested).
"""

from __future__ import annotations

import streamlit as st

from app_pages.parts.language import current_language, t
from app_pages.training import setup
from cnn_core.training import figures, view
from cnn_core.training.config import TrainConfig
from cnn_core.training.schedules import ONE_CYCLE_START_DIVISOR, warmup_steps_for

IMAGE_SIZE = 32
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # Keras' defaults, which cnn_core.training.model keeps


def number(value: float) -> str:
    """A number for LaTeX: thousands grouped without the comma's math-mode space, floats in short form."""
    if isinstance(value, int):
        return f"{value:,}".replace(",", "{,}")
    text = f"{value:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return (f"{mantissa} \\cdot " if mantissa != "1" else "") + f"10^{{{int(exponent)}}}"


def formula(*lines: str) -> None:
    """One displayed formula of a few lines, aligned at their `&` (a long line would not fit the column)."""
    st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")


def heading() -> None:
    st.markdown(t("training_lessons.heading"))


# --- Architecture: sizes, parameters, the dense layer, batch norm, dropout. ---


def architecture(config: TrainConfig, rows: list[dict]) -> None:
    """Output size of the first convolution, the shapes through the net, y = Wx + b for each dense layer."""
    heading()
    k, filters = config.kernel_size, config.filters[0]
    pad, size = view.conv_output_size(IMAGE_SIZE, k, config.padding)
    st.caption(t("training_lessons.arch.output_size"))
    formula(r"n' &= \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1",
            rf"&= \left\lfloor \frac{{{IMAGE_SIZE} + 2 \cdot {pad:g} - {k}}}{{1}} \right\rfloor + 1 = {size}")
    shapes = " → ".join("×".join(map(str, shape)) for _, shape in view.spatial_sizes(rows))
    st.caption(t("training_lessons.arch.shapes", shapes=shapes))
    params = number(next(row["params"] for row in rows if row["layer"] == "block1_conv1"))
    inputs = view.first_conv_inputs(config)  # 3 colours, or the whitening layer's channels
    if config.batch_norm:  # batch norm's offset β replaces the bias
        st.caption(t("training_lessons.arch.conv_params_bn"))
        formula(r"& k \cdot k \cdot C_{in} \cdot C_{out}", rf"&= {k} \cdot {k} \cdot {inputs} \cdot {filters} = {params}")
    else:
        st.caption(t("training_lessons.arch.conv_params"))
        formula(r"& k \cdot k \cdot C_{in} \cdot C_{out} + C_{out}",
                rf"&= {k} \cdot {k} \cdot {inputs} \cdot {filters} + {filters} = {params}")
    dense = view.dense_layers(rows)
    for layer in dense:
        # The output layer's scores z go to softmax (see "Batches, epochs & loss"); hidden layers activate.
        units, inputs = layer["units"], layer["inputs"]
        product = "z &= W x + b" if layer["layer"] == "predictions" else rf"y &= \mathrm{{{config.activation}}}(W x + b)"
        formula(product, rf"W &\in \mathbb{{R}}^{{{units} \times {inputs}}},\; b \in \mathbb{{R}}^{{{units}}}",
                rf"|W| + |b| &= {number(inputs)} \cdot {units} + {units} = {number(layer['params'])}")
    st.caption(t("training_lessons.arch.dense", inputs=dense[0]["inputs"]))
    if config.batch_norm:
        formula(r"\hat x &= \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}", r"y &= \gamma\,\hat x + \beta")
        st.caption(t("training_lessons.arch.batch_norm"))
    if config.dropout_rate > 0:
        formula(r"h_i' &= \frac{m_i\, h_i}{1 - p}", rf"m_i &\sim \mathrm{{Bernoulli}}(1 - p),\quad p = {config.dropout_rate:g}")
        st.caption(t("training_lessons.arch.dropout", percent=round(100 * config.dropout_rate)))


def questions(group: str, rows: list[dict], config: TrainConfig | None = None) -> None:
    """The tutorial's questions about a group of settings, side by side below it."""
    if group == "arch":
        first = next(row["params"] for row in rows if row["layer"] == "block1_conv1")
        dense_last, kernels = st.columns(2)
        with dense_last:
            question("dense_last", pixels=IMAGE_SIZE * IMAGE_SIZE * 3 * 10)
        with kernels:
            question("kernels", first=first)
            st.page_link("app_pages/convolution.py", label=t("training_lessons.faq.kernels.link"), icon="🔍")
    elif group == "aug":
        question("augmentation")
    elif group == "fit" and config is not None:
        question("splits", validation=config.validation_fraction)


def question(key: str, **values: object) -> None:
    with st.container(border=True):
        st.markdown(f"**{t(f'training_lessons.faq.{key}.question')}**")
        st.markdown(t(f"training_lessons.faq.{key}.answer", **values))


# --- Augmentation: what happens to a pixel, and what the network sees. ---


def beside_settings(columns: dict, config: TrainConfig, rows: list[dict], info: dict | None) -> None:
    """Each open group's lesson in the column beside its settings, and the tutorial's questions below them."""
    train_images = info["train"] if info else setup.DOWNLOAD_TRAIN_IMAGES
    num_classes = len(info["classes"]) if info else 10
    lessons = {"arch": lambda: architecture(config, rows), "aug": lambda: augmentation(config, info),
               "optim": lambda: optimizer(config, train_images), "fit": lambda: loss(config, num_classes, train_images)}
    for group, (beside, below) in columns.items():
        with beside:
            lessons[group]()
        if group != "optim":  # optimisation has no tutorial questions
            with below:
                questions(group, rows, config)


def augmentation(config: TrainConfig, info: dict | None) -> None:
    """Formulas of the active augmentations and the preview grid."""
    heading()
    last, augmenting = IMAGE_SIZE - 1, bool(config.flip or config.rotation_degrees or config.shift_fraction)
    if not augmenting:
        st.caption(t("training_lessons.aug.none"))
    if config.flip:
        st.latex(rf"x'_{{i,j}} = x_{{i,\,{last} - j}}\quad (P = \tfrac12)")
    if config.rotation_degrees:
        center, degrees = f"{last / 2:g}", f"{config.rotation_degrees:g}"
        formula(rf"\begin{{pmatrix}} i' \\ j' \end{{pmatrix}} &= \begin{{pmatrix}} \cos\theta & -\sin\theta \\ "
                rf"\sin\theta & \cos\theta \end{{pmatrix}} \begin{{pmatrix}} i - {center} \\ j - {center} \end{{pmatrix}}"
                rf" + \begin{{pmatrix}} {center} \\ {center} \end{{pmatrix}}",
                rf"\theta &\sim U(-{degrees}^\circ,\ {degrees}^\circ)")
    if config.shift_fraction:
        pixels = f"{config.shift_fraction * IMAGE_SIZE:g}"
        formula(r"x'_{i,j} &= x_{i - \Delta i,\; j - \Delta j}",
                rf"\Delta i, \Delta j &\sim U(-{pixels},\ {pixels}),\quad {pixels} = {config.shift_fraction:g} \cdot {IMAGE_SIZE}")
    if augmenting:
        st.caption(t("training_lessons.aug.what"))
    if config.mixup_alpha:
        formula(r"\tilde x &= \lambda\, x_a + (1 - \lambda)\, x_b,\qquad \tilde y = \lambda\, y_a + (1 - \lambda)\, y_b",
                rf"\lambda &\sim \mathrm{{Beta}}({config.mixup_alpha:g},\ {config.mixup_alpha:g})")
        st.caption(t("training_lessons.aug.mixup"))
    if config.test_time_flip:
        st.latex(r"p(x) = \tfrac12\bigl(f(x) + f(\tilde x)\bigr)")
        st.caption(t("training_lessons.aug.test_time_flip"))
    if augmenting:
        preview(config, info)


def preview(config: TrainConfig, info: dict | None) -> None:
    """The 8 sample images, then two random draws of the augmentations on them."""
    if info is None:
        st.caption(t("training_lessons.aug.preview_unavailable"))
        return
    st.caption(t("training_lessons.aug.preview"))
    for seed in (None, 1, 2):
        images = info["samples"] if seed is None else setup.augmented(info["samples"], config.to_json(), seed)
        st.image(list(images), width=44)


# --- Optimizer: one step, and the learning rate over the run. ---


def optimizer(config: TrainConfig, train_images: int) -> None:
    """The update rule of the chosen optimizer with its numbers, then the schedule's formula and chart."""
    heading()
    st.latex(rf"g_t = \frac{{1}}{{B}} \sum_{{i=1}}^{{B}} \nabla_\theta L(x_i, y_i),\quad B = {config.batch_size}")
    decay = r" + \lambda\,\theta_{t-1}" if config.weight_decay > 0 else ""  # decoupled: not part of g_t
    numbers = [rf"\eta_{{\max}} &= {number(config.learning_rate)}"]
    if config.weight_decay > 0:
        numbers.append(rf"\lambda &= {number(config.weight_decay)}")
    if config.optimizer in ("adam", "adamw"):
        formula(r"m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t", r"v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2",
                r"\hat m_t &= \frac{m_t}{1 - \beta_1^t},\quad \hat v_t = \frac{v_t}{1 - \beta_2^t}",
                rf"\theta_t &= \theta_{{t-1}} - \eta_t \Bigl(\frac{{\hat m_t}}{{\sqrt{{\hat v_t}} + \epsilon}}{decay}\Bigr)")
        numbers.insert(0, rf"\beta_1 &= {ADAM_BETA_1:g},\ \beta_2 = {ADAM_BETA_2:g},\ \epsilon = {number(ADAM_EPSILON)}")
        note = "adam"
    else:
        formula(r"v_t &= \mu\, v_{t-1} - \eta_t g_t", rf"\theta_t &= \theta_{{t-1}} + \mu\, v_t - \eta_t \bigl(g_t{decay}\bigr)")
        numbers.insert(0, rf"\mu &= {config.momentum:g}")
        note = "sgd"
    formula(*numbers)
    st.caption(t(f"training_lessons.optim.{note}"))
    if config.weight_decay > 0:
        st.caption(t("training_lessons.optim.weight_decay"))
    schedule(config, train_images)


def schedule(config: TrainConfig, train_images: int) -> None:
    """The schedule's formula over this run's T steps (w of them warm-up), and its chart."""
    steps = view.steps_per_epoch(train_images, config.batch_size)
    total = steps * config.epochs
    warmup = warmup_steps_for(config.schedule, config.warmup_fraction, total)
    peak = r"\eta_{\max}"
    start = peak  # one-cycle warms up from peak / 10 instead of 0
    if config.schedule == "one_cycle":
        low = rf"\tfrac{{{peak}}}{{{ONE_CYCLE_START_DIVISOR:g}}}"
        start = rf"{low} + \bigl({peak} - {low}\bigr)"
    decay = {
        "cosine": rf"{peak}\,\tfrac12\Bigl(1 + \cos \pi\,\tfrac{{t - w}}{{T - w}}\Bigr)",
        "linear": rf"{peak}\Bigl(1 - \tfrac{{t - w}}{{T - w}}\Bigr)",
        "one_cycle": rf"{peak}\Bigl(1 - \tfrac{{t - w}}{{T - w}}\Bigr)",
    }
    if config.schedule == "constant":
        st.latex(rf"\eta_t = {peak} = {number(config.learning_rate)}")
    else:
        formula(rf"\eta_t &= {start}\,\tfrac{{t}}{{w}} && (t < w)", rf"\eta_t &= {decay[config.schedule]} && (t \ge w)")
        st.latex(rf"{peak} = {number(config.learning_rate)},\quad w = {number(warmup)},\quad T = {number(total)}")
    key = "schedule_budget" if config.time_budget_seconds > 0 else "schedule"
    st.caption(t(f"training_lessons.optim.{key}", steps=steps, epochs=config.epochs, total=total))
    st.plotly_chart(figures.schedule_figure(config, steps, language=current_language()), key="schedule_chart")


# --- Batches, epochs and the loss: softmax and cross-entropy with label smoothing. ---


def loss(config: TrainConfig, num_classes: int, train_images: int) -> None:
    """Steps per epoch, softmax, the smoothed cross-entropy with this run's ε and K, and what loss to expect."""
    heading()
    steps = view.steps_per_epoch(train_images, config.batch_size)
    st.caption(t("training_lessons.fit.epoch", images=train_images, batch=config.batch_size, steps=steps,
                 epochs=config.epochs, total=steps * config.epochs))
    classes, epsilon = num_classes, config.label_smoothing
    st.latex(rf"p_k = \frac{{e^{{z_k}}}}{{\sum_{{j=1}}^{{{classes}}} e^{{z_j}}}}")
    st.caption(t("training_lessons.fit.softmax", classes=classes))
    true, other = view.smoothed_targets(epsilon, classes)
    formula(rf"L &= -\sum_{{k=1}}^{{{classes}}} y_k \log p_k",
            r"y_k &= (1 - \varepsilon)\,[k = c] + \frac{\varepsilon}{K}")
    st.latex(rf"\varepsilon = {epsilon:g},\ K = {classes}:\quad y_c = {true:.4g},\quad y_{{k \ne c}} = {other:.4g}")
    st.caption(t("training_lessons.fit.cross_entropy"))
    st.caption(t("training_lessons.fit.reading", start=view.uniform_guess_loss(classes), epsilon=f"{epsilon:g}",
                 floor=view.smoothed_loss_floor(epsilon, classes)))

"""Not a page: the classify page's probes of one photo. Occlusion, what-if sliders and the adversarial lab.

Each probe is a fragment (its sliders rerun that probe, not the page) in a lazy expander (nothing is drawn or
computed until it is opened) behind a toggle: the model is only asked once the learner switches a probe on
(cnn_core.classify.probes / adversarial do the work, batched).
Every chart is followed by the numbers it shows (a table), its text alternative.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import streamlit as st
from PIL import Image

from app_pages.parts.language import class_label, current_language, error_text, t
from cnn_core.classify import probe_figures as figures
from cnn_core.classify.probes import ProbeError
from cnn_core.convolution.kernels import KERNEL_PRESETS, closest_preset
from cnn_core.datasets.base import DataError, default_location

SHOWN = 192  # side of the enlarged 32x32 pictures, in screen pixels
EPSILONS = (0, 1, 2, 4, 8, 16)  # the test-split curve's attack strengths (pixel units)
CURVE_IMAGES = 256  # test images the page attacks: a few seconds on a shared 2-core server


def big(pixels: np.ndarray) -> Image.Image:
    """Nearest-neighbour enlargement of a small uint8 picture, so each pixel stays a visible square."""
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8)).resize((SHOWN, SHOWN), Image.Resampling.NEAREST)


def probes_section(model, model_key: str, item: dict, class_index: int, class_names: list[str]) -> None:
    """The three probes of the photo shown in detail; `model_key` names the model file's version (for caches)."""
    data_spec = (st.session_state.get("data_choice") or {}).get("spec") or str(default_location() or "")
    occlusion_section(model, item, class_index, class_names)
    what_if_section(model, item, class_names)
    adversarial_section(model, model_key, item, class_names, data_spec)


# --- Occlusion. ---


@st.fragment  # its sliders and switches rerun this probe only, not the whole page
def occlusion_section(model, item: dict, class_index: int, class_names: list[str]) -> None:
    """Slide a grey patch over the photo; map the chosen class's probability drop."""
    from cnn_core.classify import probes

    name = class_label(class_names[class_index])
    section = st.expander(t("probes.occlusion.title", class_name=name), key="probe_occlusion_open", on_change="rerun")
    if not section.open:
        return  # closed: not even its sliders are drawn
    with section:
        st.markdown(t("probes.occlusion.intro"))
        left, right = st.columns(2)
        patch = left.slider(t("probes.occlusion.patch"), 2, 16, 8, key="occlusion_patch")
        stride = right.slider(t("probes.occlusion.stride"), 1, 8, 2, key="occlusion_stride")
        if not st.toggle(t("probes.occlusion.run"), key="occlusion_on"):
            return
        result = probes.occlusion(model, item["input"], class_index, patch=patch, stride=stride)
        language = current_language()
        picture, chart = st.columns([1, 2])
        picture.image(big(item["input"]), caption=t("probes.occlusion.input"))
        picture.image(big(figures.drop_colours(result.pixel_drop)),
                      caption=t("probes.occlusion.pixels", peak=f"{max(result.pixel_drop.max(), 0):.1%}"))
        picture.image(figures.drop_colours(np.tile(np.linspace(0, 1, SHOWN), (10, 1))), caption=t("probes.legend.heat"))
        chart.plotly_chart(figures.occlusion_figure(result.drops, result.rows, result.cols, language=language),
                           key=f"occlusion-{item['key']}")
        st.caption(t("probes.occlusion.summary", class_name=name, base=f"{result.base_probability:.1%}",
                     count=result.drops.size, worst=f"{result.drops.max():.1%}"))
        st.dataframe(figures.occlusion_table(result.drops, result.rows, result.cols, language=language),
                     hide_index=True)
        st.info(t("probes.occlusion.versus_grad_cam", count=result.drops.size))


# --- What-if sliders. ---


@st.fragment  # its sliders and switches rerun this probe only, not the whole page
def what_if_section(model, item: dict, class_names: list[str]) -> None:
    """Change the photo with one slider; the top classes' probabilities over the slider's whole range."""
    from cnn_core.classify import probes

    section = st.expander(t("probes.whatif.title"), key="probe_whatif_open", on_change="rerun")
    if not section.open:
        return
    with section:
        st.markdown(t("probes.whatif.intro"))
        kinds = {kind: t(f"probes.whatif.kinds.{kind}") for kind in probes.PERTURBATIONS}
        kind = st.radio(t("probes.whatif.kind"), list(kinds), horizontal=True, key="whatif_kind",
                        format_func=kinds.__getitem__)
        start, stop, count, neutral = probes.RANGES[kind]
        level = st.slider(t(f"probes.whatif.units.{kind}"), float(start), float(stop), float(neutral),
                          step=float((stop - start) / (count - 1)), key=f"whatif_level_{kind}")
        if not st.toggle(t("probes.whatif.run"), key="whatif_on"):
            return
        levels, probabilities = probes.curve(model, item["input"], kind)
        changed = probes.perturb(item["input"], kind, level)
        now = probes.forward(model, changed[None])[0]
        best = int(np.argmax(now))
        picture, chart = st.columns([1, 2])
        picture.image(big(changed), caption=t("probes.whatif.changed", class_name=class_label(class_names[best]),
                                              probability=f"{now[best]:.1%}"))
        shown = probes.top_classes_over(probabilities, 3)
        labels = [class_label(class_names[index]) for index in shown]
        language = current_language()
        chart.plotly_chart(figures.curve_figure(levels, probabilities, shown, labels, kind, level, language=language),
                           key=f"whatif-{kind}-{item['key']}")
        st.caption(t("probes.whatif.table", count=len(levels)))
        st.dataframe(figures.curve_table(levels, probabilities, shown, labels, kind, language=language),
                     hide_index=True)


# --- The adversarial lab. ---


@st.fragment  # its sliders and switches rerun this probe only, not the whole page
def adversarial_section(model, model_key: str, item: dict, class_names: list[str], data_spec: str | None) -> None:
    """FGSM or PGD against this photo, explained with its numbers; the test split against epsilon on request."""
    from cnn_core.classify import adversarial

    section = st.expander(t("probes.adversarial.title"), key="probe_adversarial_open", on_change="rerun")
    if not section.open:
        return
    with section:
        st.markdown(t("probes.adversarial.intro"))
        left, middle, right = st.columns(3)
        names = {kind: t(f"probes.adversarial.attacks.{kind}") for kind in adversarial.ATTACKS}
        attack = left.radio(t("probes.adversarial.attack"), list(names), horizontal=True, key="attack_kind",
                            format_func=names.__getitem__)
        epsilon = middle.slider(t("probes.adversarial.epsilon"), 0, 32, 2, key="attack_epsilon",
                                help=t("probes.adversarial.epsilon_help"))
        steps = right.number_input(t("probes.adversarial.steps"), 1, 20, adversarial.PGD_STEPS, key="attack_steps",
                                   disabled=attack != "pgd")
        if st.toggle(t("probes.adversarial.run"), key="attack_on"):
            example = adversarial.explain_photo(model, item["input"], attack, epsilon, int(steps))
            show_example(example, attack, epsilon, class_names)
        st.divider()
        accuracy_section(model, model_key, class_names, attack, int(steps), data_spec)


def show_example(example, attack: str, epsilon: int, class_names: list[str]) -> None:
    """Original, magnified change, adversarial image, both predictions and the step written out."""
    before, after = int(np.argmax(example.before)), int(np.argmax(example.after))
    columns = st.columns(3)
    columns[0].image(big(example.original), caption=t("probes.adversarial.original", class_name=class_label(
        class_names[before]), probability=f"{example.before[before]:.1%}"))
    columns[1].image(big(example.magnified()), caption=t("probes.adversarial.change", epsilon=epsilon), width=SHOWN)
    columns[2].image(big(np.round(example.adversarial)), caption=t("probes.adversarial.adversarial", class_name=class_label(
        class_names[after]), probability=f"{example.after[after]:.1%}"))
    if after != before:
        st.error(t("probes.adversarial.fooled", epsilon=epsilon, before=class_label(class_names[before]),
                   after=class_label(class_names[after])))
    else:
        st.success(t("probes.adversarial.held", epsilon=epsilon, class_name=class_label(class_names[before]),
                     probability=f"{example.after[before]:.1%}"))
    st.markdown(t("probes.adversarial.formula"))
    st.latex(figures.FGSM if attack == "fgsm" else figures.PGD)
    row, col, channel = example.pixel
    st.markdown(t("probes.adversarial.pixel", row=row, col=col, channel=t(f"probes.channels.c{channel}")))
    st.latex(figures.fgsm_pixel_latex(example.original[row, col, channel], example.pixel_gradient, epsilon,
                                      example.adversarial[row, col, channel]))
    if attack == "pgd":
        st.caption(t("probes.adversarial.pgd_note"))
    st.latex(figures.loss_latex(class_label(class_names[example.label]), example.loss_before, example.loss_after))
    st.caption(t("probes.adversarial.why"))


@st.cache_data(max_entries=8, show_spinner=False)
def accuracy_curve(_model, model_key: str, data_spec: str, attack: str, steps: int,
                   class_names: tuple[str, ...]) -> tuple[list[float], int]:
    """(accuracy at each of EPSILONS, images scored) on the first CURVE_IMAGES test images; shared by all visitors."""
    from cnn_core.classify import adversarial
    from cnn_core.datasets.loading import load_dataset

    dataset = load_dataset(data_spec)
    if set(dataset.class_names) != set(class_names):
        raise ProbeError("other_classes", path=data_spec)
    order = np.asarray([class_names.index(name) for name in dataset.class_names], dtype=np.int64)
    images, labels = dataset.x_test[:CURVE_IMAGES], order[dataset.y_test[:CURVE_IMAGES]]
    return adversarial.accuracy_curve(_model, images, labels, EPSILONS, attack, steps), int(len(labels))


def accuracy_section(model, model_key: str, class_names: list[str], attack: str, steps: int,
                     data_spec: str | None) -> None:
    """Accuracy on a test split against epsilon, computed when asked (a few seconds)."""
    st.markdown(t("probes.adversarial.curve_intro", count=CURVE_IMAGES))
    spec = st.text_input(t("probes.adversarial.data"), value=data_spec or "", key="attack_data").strip()
    if not st.button(t("probes.adversarial.curve_button"), key="attack_curve", disabled=not spec):
        return
    try:
        with st.spinner(t("probes.adversarial.computing")):
            accuracies, count = accuracy_curve(model, model_key, spec, attack, steps, tuple(class_names))
    except (DataError, ProbeError) as error:
        st.error(error_text(error))
        return
    language = current_language()
    st.plotly_chart(figures.epsilon_figure(EPSILONS, accuracies, attack, language=language), key="attack_curve_chart")
    st.caption(t("probes.adversarial.curve_caption", count=count, clean=f"{accuracies[0]:.1%}",
                 last=f"{accuracies[-1]:.1%}", epsilon=EPSILONS[-1]))
    st.dataframe(figures.epsilon_table(EPSILONS, accuracies, language=language), hide_index=True)


# --- Learned filters next to hand-made kernels. ---


def picture_url(pixels: np.ndarray) -> str:
    """A small uint8 picture as a PNG data URL (st.dataframe's ImageColumn shows these)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def filter_matches(filters: np.ndarray, chosen: int) -> None:
    """Each first-layer filter beside its closest preset kernel; one click opens the chosen one's preset."""
    from cnn_core.classify import explain

    language = current_language()
    rows, matches = [], []
    for index in range(filters.shape[-1]):
        match = closest_preset(np.asarray(explain.filter_as_kernel(filters, index)))
        matches.append(match)
        preset = KERNEL_PRESETS[match.name].kernel(match.size) * (-1 if match.negated else 1) if match else None
        rows.append({"filter": index + 1, "learned": picture_url(explain.filter_grid(filters[..., index:index + 1], 1, 8)),
                     "preset": picture_url(figures.kernel_tile(preset)) if preset is not None else None,
                     "name": (("−" if match.negated else "") + KERNEL_PRESETS[match.name].label(language)) if match else "—",
                     "similarity": round(match.similarity, 3) if match else None})
    if not any(matches):  # e.g. a 2x2 whitening layer: no preset has that size, a column of dashes says nothing
        st.caption(t("probes.filters.no_preset", size=filters.shape[0]))
        return
    st.markdown(t("probes.filters.intro"))
    columns = {key: t(f"probes.filters.{key}") for key in ("filter", "learned", "preset", "name", "similarity")}
    st.dataframe({columns[key]: [row[key] for row in rows] for key in columns}, hide_index=True, column_config={
        columns["learned"]: st.column_config.ImageColumn(columns["learned"], width="small"),
        columns["preset"]: st.column_config.ImageColumn(columns["preset"], width="small"),
        columns["similarity"]: st.column_config.ProgressColumn(columns["similarity"], min_value=0.0, max_value=1.0,
                                                               format="%.2f")})
    match = matches[chosen]
    if match and st.button(t("probes.filters.open", name=KERNEL_PRESETS[match.name].label(language), number=chosen + 1),
                           key="classify_open_preset"):
        st.session_state["preset"], st.session_state[f"size-{match.name}"] = match.name, match.size
        st.switch_page("app_pages/convolution.py")

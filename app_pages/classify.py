"""Classify images: what a trained CNN thinks each photo shows, why, and the math behind it.

Everything heavy is in cnn_core.classify (inference: the 32x32 input and top-k; explain: Grad-CAM, the
last layer's numbers, activations; figures: the chart and the formulas with this photo's numbers);
this script lays it out. Every word comes from the translation tables (`t`), class names through
`class_label`. Models are shared by every user of the server, so they sit in st.cache_resource keyed
by (name, file modification time): a retrained model reloads. Each user's results live in
st.session_state, keyed by class ids, so switching the language never reclassifies.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from PIL import Image

from app_pages.classify.probes import filter_matches, probes_section
from app_pages.parts.identity import say_if_picked_model_gone, visitor
from app_pages.parts.language import class_label, current_language, error_text, plain_t, recorded_text, t
from cnn_core import samples
from cnn_core.classify import figures as explain_figures
from cnn_core.classify import inference
from cnn_core.convolution import figures as convolution_figures
from cnn_core.images import MAX_DISPLAY_SIDE, UPLOAD_TYPES, ImageError, fit_for_display, load_shrunk
from cnn_core.models import registry
from cnn_core.server import owners
from cnn_core.server.owners import Visitor
from cnn_core.training.transfer import import_model
from cnn_core.untrusted import Markdown

if TYPE_CHECKING:
    from cnn_core.classify.explain import GradCam

SHOWN_SIZE = 224  # the 32x32 input and heatmaps are enlarged to this many pixels for display
THRESHOLD = inference.LOW_CONFIDENCE_THRESHOLD
# Decoded pixels one visitor's uploads may hold at once: 24 photos at the display size, ~72 MB as RGB.
SESSION_PIXELS = 24 * MAX_DISPLAY_SIDE**2
CHANNELS = {"mean": "channel_mean", 0: "channel_red", 1: "channel_green", 2: "channel_blue"}


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_model(name: str, modified: float, _visitor: Visitor):
    """The registry model `name`, shared by every visitor allowed to see it (the caller checked; the visitor is not
    part of the key); `modified` (the file's mtime) is in the key so a retrained file reloads."""
    return owners.load_model_for(name, _visitor)


def model_label(metadata: dict) -> str:
    """'name · 71.2% test accuracy · shipped' for the picker."""
    accuracy = metadata.get("test_accuracy")
    parts = [metadata["name"], t("classify.model.accuracy", accuracy=f"{accuracy:.1%}")
             if isinstance(accuracy, (int, float)) else t("classify.model.accuracy_unknown")]
    parts += [t(f"classify.model.{flag}") for flag in ("shipped", "imported") if metadata.get(flag)]
    return " · ".join(parts)


def thumbnail_url(image: Image.Image, side: int = 64) -> str:
    """A small PNG data URL (st.dataframe's ImageColumn shows these)."""
    small = image.copy()
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def enlarged(pixels: np.ndarray | Image.Image, side: int = SHOWN_SIZE) -> Image.Image:
    """Nearest-neighbour enlargement, so each input pixel stays a visible square."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    return image.resize((side, side), Image.Resampling.NEAREST)


def import_section() -> None:
    """Import a model trained elsewhere: our JSON schema + a .weights.h5, never a model file."""
    message = st.session_state.pop("import_message", None)
    if message:
        st.session_state["classify_import_open"] = True  # show what the import did
    section = st.expander(t("classify.import.title"), key="classify_import_open", on_change="rerun")
    if not section.open:
        return  # closed: its form and two uploaders are not drawn
    with section:
        if message:
            st.success(message)
        st.markdown(t("classify.import.help"))
        with st.form("import"):
            config_file = st.file_uploader(t("classify.import.config"), type=["json"], key="import_config")
            weights_file = st.file_uploader(t("classify.import.weights"), type=["h5"], key="import_weights")
            new_name = st.text_input(t("classify.import.name"), value="imported-model", key="import_name")
            if st.form_submit_button(t("classify.import.button")):
                if config_file is None or weights_file is None:
                    st.error(t("classify.import.need_both"))
                    return
                try:
                    owners.check_name_free(new_name, visitor())  # another's model, saved or coming
                    saved = import_model(new_name, config_file.getvalue(), weights_file.getvalue(),
                                         weights_filename=weights_file.name, owner=visitor().owner)
                except ValueError as error:  # ModelImportError and registry name errors
                    st.error(t("classify.import.refused", error=error_text(error)))
                else:  # rerun so the model list above shows it; the message survives in the session
                    st.session_state["import_message"] = t("classify.import.done", name=saved)
                    st.rerun()


# --- Page sections. ---


def pick_model(models: list[dict]) -> tuple[str, dict]:
    """Model picker (default: the shipped model, else the newest) showing its metadata; (name, metadata)."""
    by_name = {metadata["name"]: metadata for metadata in models}
    names = list(by_name)
    default_name = inference.default_model(models)["name"]
    # Labels made now, not inside format_func: Streamlit may call that outside this run (tests do).
    labels = {name: model_label(metadata) for name, metadata in by_name.items()}
    say_if_picked_model_gone("classify_model", names)
    name = st.selectbox(t("classify.model.picker"), names, index=names.index(default_name), key="classify_model",
                        format_func=labels.__getitem__)
    metadata = by_name[name]
    created = str(metadata.get("created") or t("classify.model.unknown_date"))[:16].replace("T", " ")
    dataset = recorded_text(metadata.get("dataset_about"), metadata.get("dataset") or t("classify.model.unknown_data"))
    caption = t("classify.model.caption", dataset=dataset,
                classes=len(metadata.get("class_names") or []), created=created)
    if metadata.get("keras_version"):
        caption += t("classify.model.keras", version=metadata["keras_version"])
    st.caption(caption)
    return name, metadata


def gather_inputs() -> list[tuple[str, str, bytes | Image.Image]]:
    """Uploads, the camera (behind a toggle) and samples as (label, identity, bytes or decoded sample)."""
    limit = st.get_option("server.maxUploadSize")  # set in .streamlit/config.toml; Streamlit refuses larger files
    uploads = st.file_uploader(t("classify.inputs.upload"), type=list(UPLOAD_TYPES), accept_multiple_files=True,
                               help=t("classify.inputs.upload_help", limit=limit), key="classify_uploads")
    inputs = [(upload.name, hashlib.sha256(upload.getvalue()).hexdigest(), upload.getvalue()) for upload in uploads or []]
    # The browser asks for camera permission as soon as st.camera_input is shown, so only on request.
    if st.toggle(t("classify.inputs.camera_toggle"), help=t("classify.inputs.camera_help"), key="classify_camera_on"):
        photo = st.camera_input(t("classify.inputs.camera"), key="classify_camera")
        if photo is not None:
            inputs.append((t("classify.inputs.camera_photo"), hashlib.sha256(photo.getvalue()).hexdigest(),
                           photo.getvalue()))
    language = current_language()
    labels = {sample: samples.sample_label(sample, language) for sample in samples.sample_names()}
    chosen = st.multiselect(t("classify.inputs.samples"), list(labels), key="classify_samples",
                            format_func=labels.__getitem__, placeholder=t("classify.inputs.samples_placeholder"),
                            select_all=False)  # Streamlit's "Select all" row is English-only
    for sample in chosen:
        shown = labels[sample]
        inputs.append((plain_t("classify.inputs.sample_item", name=shown), f"sample:{sample}", samples.load_sample(sample)))
        st.caption(t("classify.inputs.sample_credit", name=shown, credit=samples.sample_credit(sample, language)))
    return inputs


def decoded(identity: str, data: bytes, current: set[str]) -> tuple[Image.Image, tuple[int, int]]:
    """An upload decoded once for this session, at most MAX_DISPLAY_SIDE per side; (image, original size).

    Kept in session state (it dies with the tab, unlike st.cache_*), within SESSION_PIXELS: beyond it the
    upload is refused with a message rather than held. Entries of uploads no longer on the page (not in `current`)
    go first.
    """
    kept = st.session_state.setdefault("classify_decoded", {})
    if identity not in kept:
        for old in [key for key in kept if key not in current]:
            del kept[old]
        used = sum(image.width * image.height for image, _ in kept.values())
        if used + MAX_DISPLAY_SIDE**2 > SESSION_PIXELS:
            raise ImageError("session_budget", images=len(kept))
        kept[identity] = load_shrunk(data, MAX_DISPLAY_SIDE)
    return kept[identity]


def classify_all(model, inputs, cache_key: tuple, fit: str, class_names: list[str], test_time_flip: bool) -> list[dict]:
    """Decode and prepare every input (bad ones -> st.error), classify the new ones in one batch."""
    results = st.session_state.setdefault("classify_results", {})
    if len(results) > 500:  # a long session: forget old photos rather than grow without bound
        results.clear()
    items, current = [], {identity for _, identity, _ in inputs}
    for label, identity, source in inputs:
        try:
            is_sample = isinstance(source, Image.Image)  # a sample comes decoded; an upload's bytes are decoded once
            original, size = (source, source.size) if is_sample else decoded(identity, source, current)
        except ImageError as error:  # reason and lead-in both in the reader's language
            st.error(t("classify.image_error", label=label, error=error_text(error)))
            continue
        items.append({"label": label, "key": (*cache_key, fit, identity), "original": original, "size": size,
                      "input": inference.prepare_image(original, fit)})
    pending = [item for item in items if item["key"] not in results]
    if pending:
        rows = inference.probabilities(model, [item["input"] for item in pending], test_time_flip)
        for item, row in zip(pending, rows):
            results[item["key"]] = inference.top_classes(row, class_names, top_k=min(5, len(class_names)))
    for item in items:
        item["top"] = results[item["key"]]
    return items


def summary(items: list[dict]) -> dict:
    """Table of all images (thumbnail, top class, probability); returns the one picked for details."""
    st.subheader(t("classify.summary.heading", count=len(items)))
    columns = {key: t(f"classify.summary.{key}") for key in ("image", "file", "top_class", "probability", "confident")}
    st.dataframe({
        columns["image"]: [thumbnail_url(item["original"]) for item in items],
        columns["file"]: [item["label"] for item in items],
        columns["top_class"]: [class_label(item["top"][0][0]) for item in items],
        columns["probability"]: [item["top"][0][1] for item in items],
        columns["confident"]: [t("classify.summary.no" if inference.is_low_confidence(item["top"]) else
                                 "classify.summary.yes") for item in items],
    }, hide_index=True, column_config={
        columns["image"]: st.column_config.ImageColumn(columns["image"], width="small"),
        columns["probability"]: st.column_config.ProgressColumn(columns["probability"], min_value=0.0,
                                                                max_value=1.0, format="percent"),
    })
    # Positions, not labels, as options: the choice survives a language switch.
    index = st.selectbox(t("classify.summary.details_for"), range(len(items)), key="classify_details",
                         format_func=lambda position: f"{position + 1}. {items[position]['label']}")
    return items[index or 0]


def details(model, item: dict, fit: str, class_names: list[str]) -> GradCam:
    """One image: headline, warning, photo, network input, Grad-CAM of a chosen class, top-k chart."""
    from cnn_core.classify import explain  # TensorFlow: only once a photo is classified

    top = item["top"]
    st.subheader(t("classify.details.heading", label=item["label"], class_name=class_label(top[0][0]),
                   probability=f"{top[0][1]:.1%}"))
    if inference.is_low_confidence(top):
        st.warning(t("classify.details.low_confidence", threshold=f"{THRESHOLD:.0%}", classes=len(class_names)))
    display, _ = fit_for_display(item["original"], 512)
    left, middle, right = st.columns(3)
    left.image(display, caption=t("classify.details.photo"))
    size = item["input"].shape[0]
    middle.image(enlarged(item["input"]), caption=t("classify.details.network_input", size=size))
    choices = {class_names.index(name): class_label(name) for name, _ in top}
    chosen = right.selectbox(t("classify.details.explain_class"), list(choices), key=f"explain_class_{item['key']}",
                             format_func=choices.__getitem__)
    cam = explain.grad_cam_details(model, item["input"], chosen)
    heat_input = explain.upsample(cam.heatmap, item["input"].shape[1::-1])
    right.image(explain.overlay(display, explain.heatmap_for_original(heat_input, display.size, fit)),
                caption=t("classify.details.grad_cam", class_name=class_label(class_names[cam.class_index])))
    right.image(explain.legend_strip(), caption=t("probes.legend.heat"))
    sentence = inference.describe_preprocessing(fit, item["size"], language=current_language())
    st.caption(t("classify.details.preprocessing", sentence=sentence))
    st.plotly_chart(explain_figures.top_k_figure(top, THRESHOLD, language=current_language()),
                    key=f"top-{item['key']}")
    st.caption(t("probes.legend.top_k", values=" · ".join(f"{class_label(name)} {p:.1%}" for name, p in top)))
    return cam


def last_layer_math(model, item: dict, class_names: list[str], test_time_flip: bool) -> None:
    """The dense layer, softmax and cross-entropy with this photo's numbers, and why dense layers come last. The
    worked example ends at the probability the page reports: with test-time flip, both passes and their average."""
    from cnn_core.classify import explain  # TensorFlow: only once a photo is classified

    section = st.expander(t("classify.math.title"), key="classify_math_open", on_change="rerun")
    if not section.open:
        return  # closed: nothing computed (the last layer's passes run only while it is open)
    passes = explain.last_layer_passes(model, item["input"], test_time_flip)
    reported = explain.answer_probabilities(passes)
    best, runner_up = (int(index) for index in np.argsort(-reported, kind="stable")[:2])
    numbers = passes[0]
    inputs, classes = numbers.kernel.shape
    with section:
        # Layer names are ours (build_model), shown in `code`, where an escape would show as a backslash.
        st.markdown(t("classify.math.dense", inputs=f"{inputs:,}", source=Markdown(numbers.source),
                      weights=f"{numbers.kernel.size:,}", biases=classes))
        st.latex(explain_figures.dense_shapes_latex(inputs, classes))
        st.markdown(t("classify.math.dense_row", class_name=class_label(class_names[best]), inputs=f"{inputs:,}"))
        st.latex(explain_figures.dense_row_latex(class_names[best], numbers.weighted_sums[best],
                                                 numbers.bias[best], inputs, language=current_language()))
        softmax_math(passes, reported, best, class_names)
        cross_entropy_math(reported, best, runner_up, class_names)
        st.page_link("app_pages/training.py", label=t("classify.math.training_link"), icon="📉")
        st.markdown(f"**{t('classify.math.faq_dense_title')}**")
        st.markdown(t("classify.math.faq_dense", weights=f"{numbers.kernel.size:,}", inputs=f"{inputs:,}"))
        st.page_link("app_pages/training.py", label=t("classify.math.faq_dense_link"), icon="🏋️")


def softmax_math(passes: list, reported: np.ndarray, best: int, class_names: list[str]) -> None:
    """Softmax of each pass's scores for the answer's class; with two passes, their average: what the page reports."""
    from cnn_core.classify import explain  # TensorFlow: only once a photo is classified

    language = current_language()
    st.markdown(t("classify.math.softmax"))
    st.latex(explain_figures.SOFTMAX)
    for index, numbers in enumerate(passes):
        st.markdown(t("classify.math.softmax_numbers" if index == 0 else "classify.math.softmax_mirror"))
        st.latex(explain_figures.softmax_latex(numbers.logits, class_names, best, language=language))
    st.caption(t("classify.math.real_scores"))
    if len(passes) == 2:
        st.markdown(t("classify.math.test_time_flip"))
        photo, mirror = (explain.softmax(numbers.logits)[best] for numbers in passes)
        st.latex(explain_figures.flip_average_latex(class_names[best], photo, mirror, language=language))
    st.caption(t("classify.math.reported", class_name=class_label(class_names[best]),
                 probability=f"{reported[best]:.1%}"))


def cross_entropy_math(reported: np.ndarray, best: int, runner_up: int, class_names: list[str]) -> None:
    """The loss this photo would cost if it were labelled the answer's class, or the runner-up's."""
    language = current_language()
    st.markdown(t("classify.math.cross_entropy"))
    st.latex(convolution_figures.CROSS_ENTROPY)
    for key, index in (("cross_entropy_top", best), ("cross_entropy_other", runner_up)):
        st.markdown(t(f"classify.math.{key}", class_name=class_label(class_names[index])))
        st.latex(explain_figures.cross_entropy_latex(class_names[index], reported[index], language=language))


def grad_cam_math(cam: GradCam, class_names: list[str]) -> None:
    """What Grad-CAM computes, with this photo's channel weights."""
    from cnn_core.classify import explain  # TensorFlow: only once a photo is classified

    height, width, channels = cam.feature_shape
    name = class_names[cam.class_index]
    section = st.expander(t("classify.grad_cam.title"), key="classify_grad_cam_open", on_change="rerun")
    if not section.open:
        return
    with section:
        st.markdown(t("classify.grad_cam.intro", channels=channels, height=height, width=width,
                      layer=Markdown(cam.layer_name),
                      class_name=class_label(name)))
        st.latex(explain_figures.GRAD_CAM)
        st.markdown(t("classify.grad_cam.numbers"))
        st.latex(explain_figures.grad_cam_sum_latex(cam.channel_weights, name, language=current_language()))
        st.caption(t("classify.grad_cam.why_logit"))
        st.image(enlarged(explain.colorize(cam.heatmap)), width=SHOWN_SIZE,
                 caption=t("classify.grad_cam.raw_map", height=height, width=width))


def look_inside(model, item: dict, activation: str) -> None:
    """Every conv/pool layer's activations, why ReLU, the first layer's filters; send one to the conv page."""
    from cnn_core.classify import explain  # TensorFlow: only once a photo is classified

    section = st.expander(t("classify.inside.title"), key="classify_inside_open", on_change="rerun")
    if not section.open:
        return  # closed: no activations, filter grids or kernel matches computed
    with section:
        st.markdown(t("classify.inside.intro"))
        for layer, values in explain.layer_activations(model, item["input"]).items():
            height, width, channels = values.shape
            caption = t("classify.inside.layer", layer=layer, channels=channels, height=height, width=width)
            if activation == "ReLU" and not explain.is_pooling_layer(layer):  # smooth activations leave few exact 0s
                caption = t("classify.inside.zeros", layer=layer, channels=channels, height=height, width=width,
                            share=f"{explain_figures.zero_share(values):.0%}", activation=activation)
            # Deep layers have many small maps: smaller tiles, more per row, so the grid stays a few rows tall.
            columns, side = (32, 32) if channels > 64 else (16, 64)
            st.image(explain.activation_grid(values, columns=columns, scale=max(1, side // height)), caption=caption)
        st.markdown(f"**{t('classify.inside.faq_relu_title')}**")
        st.markdown(t("classify.inside.faq_relu"))
        st.latex(convolution_figures.RELU)
        if activation != "ReLU":
            st.caption(t("classify.inside.other_activation", activation=activation))
        filters = explain.first_layer_filters(model)
        size, _, _, count = filters.shape
        kind = "filters_fixed" if explain.first_layer_is_fixed(model) else "filters"
        st.image(explain.filter_grid(filters, columns=16), caption=t(f"classify.inside.{kind}", count=count, size=size))
        st.markdown(t("classify.inside.filters_formula"))
        st.latex(explain_figures.CONVOLUTION)
        number = st.number_input(t("classify.inside.filter"), min_value=1, max_value=count, value=1, step=1,
                                 key="classify_filter", width=240)
        channel_labels = {value: t(f"classify.inside.{key}") for value, key in CHANNELS.items()}
        channel = st.radio(t("classify.inside.channel"), list(CHANNELS), horizontal=True, key="classify_channel",
                           format_func=channel_labels.__getitem__)
        kernel = explain.filter_as_kernel(filters, int(number) - 1, None if channel == "mean" else channel)
        st.dataframe(np.round(np.array(kernel), 3), width="content")
        if st.button(t("classify.inside.send"), key="classify_send"):
            st.session_state["kernel_from_model"] = kernel
            st.switch_page("app_pages/convolution.py")
        filter_matches(filters, int(number) - 1)


def loaded_model(name: str, class_names: list[str]) -> tuple:
    """(model, file time) of the chosen model; a message, the import section and a stop if it cannot be used
    (another visitor's private model, forced through the session state, reads as one that does not exist)."""
    try:
        owners.model_metadata_for(name, visitor())  # the cache below is shared: this is the visitor's check
        modified = registry.model_file(name).stat().st_mtime
        with st.spinner(t("classify.loading_model")):
            model = cached_model(name, modified, visitor())
        if len(class_names) != int(model.output_shape[-1]):
            raise registry.RegistryError("class_mismatch", names=len(class_names), outputs=model.output_shape[-1])
    except registry.RegistryError as error:  # a damaged or inconsistent file: say so, keep the page usable
        st.error(t("classify.model.broken", name=name, error=error_text(error)))
        import_section()
        st.stop()
    return model, modified


def classify_section(models: list[dict]) -> None:
    """Photos and a model; the answers and, for one photo, why (Grad-CAM, the math, the layers). The uploader comes
    first: with a class arriving at once, a browser draws it seconds before the pickers below it."""
    inputs = gather_inputs()
    name, metadata = pick_model(models)
    class_names = list(metadata.get("class_names") or [])
    config = metadata.get("config") or {}
    test_time_flip = bool(config.get("test_time_flip", False))
    activation = {"relu": "ReLU", "gelu": "GELU", "elu": "ELU", "tanh": "tanh"}.get(config.get("activation", "relu"),
                                                                                  str(config.get("activation")))
    fit_labels = {value: t(f"classify.inputs.fit_{value}") for value in inference.FIT_CHOICES}
    fit = st.radio(t("classify.inputs.fit"), list(fit_labels), horizontal=True, key="classify_fit",
                   format_func=fit_labels.__getitem__)
    if not inputs:  # the uploader is on the page before any model is loaded
        st.info(t("classify.prompt"))
        return
    model, modified = loaded_model(name, class_names)
    items = classify_all(model, inputs, (name, modified), fit, class_names, test_time_flip)
    if items:
        item = summary(items) if len(items) > 1 else items[0]
        cam = details(model, item, fit, class_names)
        last_layer_math(model, item, class_names, test_time_flip)
        grad_cam_math(cam, class_names)
        probes_section(model, f"{name}@{modified}", item, cam.class_index, class_names)
        look_inside(model, item, activation)


st.title(t("classify.title"))
st.caption(t("classify.intro"))
models = owners.models_for(visitor())  # public mode: shipped and shared models, and this visitor's own
if models:
    classify_section(models)
else:
    st.info(t("classify.no_models"))
    st.page_link("app_pages/training.py", label=t("classify.go_training"), icon="🏋️")
import_section()

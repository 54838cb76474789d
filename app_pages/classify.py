"""Classify images: what a trained CNN thinks each photo shows, and why.

Everything heavy is in cnn_core (inference: the 32x32 input and top-k; explain: Grad-CAM, logits,
activations); this script lays it out. Models are shared by every user of the server, so they sit in
st.cache_resource keyed by (name, file modification time): a retrained model reloads. Each user's
results live in st.session_state.
"""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from cnn_core import explain, inference, registry, samples
from cnn_core.images import ImageError, fit_for_display, load_image
from cnn_core.model_import import import_model

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]
SHOWN_SIZE = 224  # the 32x32 input and heatmaps are enlarged to this many pixels for display
THRESHOLD = inference.LOW_CONFIDENCE_THRESHOLD
FIT_LABELS = {"crop": "Centre crop (fills the frame, cuts the edges)", "pad": "Pad (keeps everything, adds a border)"}
CHANNELS = {"mean": "Average of R, G, B", 0: "Red channel", 1: "Green channel", 2: "Blue channel"}


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_model(name: str, modified: float):
    """The registry model `name`; `modified` (the file's mtime) is in the key so a retrained file reloads."""
    return registry.load_model(name)


def model_label(metadata: dict) -> str:
    """'name · 71.2 % test accuracy · shipped' for the picker."""
    accuracy = metadata.get("test_accuracy")
    parts = [metadata["name"], f"{accuracy:.1%} test accuracy" if isinstance(accuracy, (int, float)) else "accuracy not measured"]
    if metadata.get("shipped"):
        parts.append("shipped")
    if metadata.get("imported"):
        parts.append("imported")
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


def top_chart(top: list[tuple[str, float]]) -> go.Figure:
    """Horizontal bars of the top-k probabilities, most likely at the top."""
    labels = [label for label, _ in top][::-1]
    values = [p for _, p in top][::-1]
    figure = go.Figure(go.Bar(x=values, y=labels, orientation="h", text=[f"{v:.1%}" for v in values],
                              textposition="auto", marker_color="#4c78a8"))
    figure.add_vline(x=THRESHOLD, line_dash="dot", line_color="grey")
    figure.update_layout(height=60 + 32 * len(top), margin=dict(l=10, r=10, t=10, b=30),
                         xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"))
    return figure


def softmax_latex(logits: np.ndarray, class_names: list[str], index: int) -> str:
    """softmax written out for class `index` with this image's logits plugged in."""
    terms = " + ".join(f"e^{{{value:.2f}}}" for value in logits)
    probability = explain.softmax(logits)[index]
    name = class_names[index].replace("_", r"\_")
    return (rf"p_{{\text{{{name}}}}} = \frac{{e^{{z_{{\text{{{name}}}}}}}}}{{\sum_j e^{{z_j}}}}"
            rf" = \frac{{e^{{{logits[index]:.2f}}}}}{{{terms}}} = {probability:.3f}")


def import_section() -> None:
    """Import a model trained elsewhere: our JSON schema + a .weights.h5, never a model file."""
    message = st.session_state.pop("import_message", None)
    with st.expander("Import a model trained elsewhere (configuration JSON + .weights.h5)", expanded=bool(message)):
        if message:
            st.success(message)
        st.markdown("For safety the app never opens `.keras` or full `.h5` model files from users (they can run "
                    "code). Upload the training settings as JSON (`{\"config\": …, \"class_names\": […]}`) and "
                    "weights saved with `model.save_weights(\"model.weights.h5\")`; the app builds the "
                    "architecture itself and loads only the numbers.")
        with st.form("import"):
            config_file = st.file_uploader("Configuration (JSON)", type=["json"])
            weights_file = st.file_uploader("Weights (.weights.h5)", type=["h5"])
            new_name = st.text_input("Save as", value="imported-model")
            if st.form_submit_button("Import"):
                if config_file is None or weights_file is None:
                    st.error("Choose both files.")
                    return
                try:
                    saved = import_model(new_name, config_file.getvalue(), weights_file.getvalue(),
                                         weights_filename=weights_file.name)
                except ValueError as error:  # ModelImportError and registry name errors
                    st.error(str(error))
                else:  # rerun so the model list above shows it; the message survives in the session
                    st.session_state["import_message"] = f"Imported as **{saved}**; pick it in the model list."
                    st.rerun()


# --- Page sections. ---


def pick_model(models: list[dict]) -> tuple[str, dict]:
    """Model picker (default: the shipped model, else the newest) showing its metadata; (name, metadata)."""
    names = [metadata["name"] for metadata in models]
    default_name = inference.default_model(models)["name"]
    name = st.selectbox("Model", names, index=names.index(default_name),
                        format_func=lambda value: model_label(models[names.index(value)]))
    metadata = models[names.index(name)]
    created = str(metadata.get("created") or "unknown")[:16].replace("T", " ")
    st.caption(f"Trained on: {metadata.get('dataset') or 'unknown data'} · {len(metadata.get('class_names') or [])} classes · "
               f"created {created}" + (f" · Keras {metadata['keras_version']}" if metadata.get("keras_version") else ""))
    return name, metadata


def gather_inputs() -> list[tuple[str, str, bytes | Image.Image]]:
    """Uploads, the camera (behind a toggle) and samples as (label, identity, bytes or decoded sample)."""
    limit = st.get_option("server.maxUploadSize")  # set in .streamlit/config.toml; Streamlit refuses larger files
    uploads = st.file_uploader("Upload photos", type=IMAGE_TYPES, accept_multiple_files=True,
                               help=f"PNG, JPEG, WebP, GIF, BMP or TIFF, up to {limit} MB each.")
    inputs = [(upload.name, hashlib.sha256(upload.getvalue()).hexdigest(), upload.getvalue()) for upload in uploads or []]
    # The browser asks for camera permission as soon as st.camera_input is shown, so only on request.
    if st.toggle("Use the camera", help="Your browser asks for permission only when this is on."):
        photo = st.camera_input("Take a photo")
        if photo is not None:
            inputs.append(("camera photo", hashlib.sha256(photo.getvalue()).hexdigest(), photo.getvalue()))
    for sample in st.multiselect("Or try bundled samples", samples.sample_names()):
        inputs.append((f"sample: {sample}", f"sample:{sample}", samples.load_sample(sample)))
        st.caption(f"{sample}: {samples.sample_credit(sample)}")
    return inputs


def classify_all(model, inputs, cache_key: tuple, fit: str, class_names: list[str], test_time_flip: bool) -> list[dict]:
    """Decode and prepare every input (bad ones -> st.error), classify the new ones in one batch."""
    results = st.session_state.setdefault("classify_results", {})
    if len(results) > 500:  # a long session: forget old photos rather than grow without bound
        results.clear()
    items = []
    for label, identity, source in inputs:
        try:
            original = source if isinstance(source, Image.Image) else load_image(source)
        except ImageError as error:
            st.error(f"**{label}**: {error}")
            continue
        items.append({"label": label, "key": (*cache_key, fit, identity), "original": original,
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
    st.subheader(f"{len(items)} images")
    st.dataframe({
        "image": [thumbnail_url(item["original"]) for item in items],
        "file": [item["label"] for item in items],
        "top class": [item["top"][0][0] for item in items],
        "probability": [item["top"][0][1] for item in items],
        "confident?": ["no" if inference.is_low_confidence(item["top"]) else "yes" for item in items],
    }, hide_index=True, column_config={
        "image": st.column_config.ImageColumn("image", width="small"),
        "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0, format="percent"),
    })
    labels = [f"{index + 1}. {item['label']}" for index, item in enumerate(items)]
    return items[labels.index(st.selectbox("Details for", labels))]


def details(model, item: dict, fit: str, class_names: list[str], test_time_flip: bool) -> None:
    """One image: photo, network input, Grad-CAM, top-5 chart, warning and softmax with its numbers."""
    top = item["top"]
    st.subheader(f"{item['label']}: {top[0][0]} ({top[0][1]:.1%})")
    if inference.is_low_confidence(top):
        st.warning(f"Low confidence: the top class has less than {THRESHOLD:.0%} probability. The photo may show "
                   f"something outside the model's {len(class_names)} classes, or the model is unsure.")
    display, _ = fit_for_display(item["original"], 512)
    heat, explained = explain.grad_cam_map(model, item["input"], class_names.index(top[0][0]))
    heat_input = explain.upsample(heat, item["input"].shape[1::-1])
    left, middle, right = st.columns(3)
    left.image(display, caption="Your photo")
    middle.image(enlarged(item["input"]), caption="What the network sees (32x32, enlarged)")
    right.image(explain.overlay(display, explain.heatmap_for_original(heat_input, display.size, fit)),
                caption=f"Grad-CAM for “{class_names[explained]}”: red = where it looked")
    st.caption("Preprocessing: " + inference.describe_preprocessing(fit, item["original"].size))
    st.plotly_chart(top_chart(top), key=f"top-{item['key']}")
    st.caption(f"Dotted line: the {THRESHOLD:.0%} confidence threshold.")

    with st.expander("How the probabilities are computed (softmax)", expanded=True):
        values = explain.logits(model, item["input"])
        st.markdown("The last layer gives one score $z_j$ (a *logit*) per class; softmax turns them into "
                    "probabilities that are positive and add up to 1:")
        st.latex(softmax_latex(values, class_names, int(np.argmax(values))))
        if test_time_flip:
            st.caption("This model also classifies the mirrored photo and averages both, so the chart above can "
                       "differ slightly from this single pass.")
    with st.expander("Grad-CAM: how the heatmap is made"):
        st.markdown(f"Grad-CAM takes the last convolution's feature maps $A^k$ (layer "
                    f"`{explain.last_conv_layer_name(model)}`), weights each by how much it raises the class "
                    "score $z_c$ (the gradient averaged over positions), adds them up and keeps the positive part:")
        st.latex(r"L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big),\quad "
                 r"\alpha_k^c = \frac{1}{HW}\sum_{i,j} \frac{\partial z_c}{\partial A^k_{ij}}")
        st.image(enlarged(explain.colorize(heat_input)), caption="The raw 32x32 map", width=SHOWN_SIZE)


def look_inside(model, item: dict) -> None:
    """Every conv/pool layer's activations for this image, the first layer's filters, send one to the conv page."""
    with st.expander("Look inside: every layer's activations and the first layer's filters"):
        st.markdown("Each small square is one channel's feature map for this photo (bright = strong response). "
                    "Early layers respond to edges and colours; deeper ones to larger patterns.")
        for layer, activation in explain.layer_activations(model, item["input"]).items():
            height, width, channels = activation.shape
            st.image(explain.activation_grid(activation, columns=16, scale=max(1, 64 // height)),
                     caption=f"{layer}: {channels} channels of {height}x{width}")
        filters = explain.first_layer_filters(model)
        size, _, _, count = filters.shape
        st.image(explain.filter_grid(filters, columns=16), caption=f"The {count} learned {size}x{size} filters of "
                 "the first convolution (grey = 0; brighter/darker = positive/negative weight per colour)")
        number = st.number_input("Filter", min_value=1, max_value=count, value=1, step=1)
        channel = st.radio("As a grey kernel, use", list(CHANNELS), format_func=CHANNELS.get, horizontal=True)
        kernel = explain.filter_as_kernel(filters, int(number) - 1, None if channel == "mean" else channel)
        st.dataframe(np.round(np.array(kernel), 3))
        if st.button("Step through this filter on the convolution page"):
            st.session_state["kernel_from_model"] = kernel
            st.switch_page("app_pages/convolution.py")


# --- The page. ---

st.title("Classify images")
st.caption("Drop in photos and see which class a trained CNN picks, how sure it is, and where it looked.")

models = registry.list_models()
if not models:
    st.info("There is no trained model yet. Train one on the training page (a few minutes on a laptop), "
            "or import one below, then come back here.")
    st.page_link("app_pages/training.py", label="Go to Train a CNN", icon="🏋️")
else:
    name, metadata = pick_model(models)
    class_names = list(metadata.get("class_names") or [])
    try:
        modified = registry.model_file(name).stat().st_mtime
        model = cached_model(name, modified)
        if len(class_names) != int(model.output_shape[-1]):
            raise registry.RegistryError(f"its metadata lists {len(class_names)} class names for "
                                         f"{model.output_shape[-1]} outputs")
    except registry.RegistryError as error:  # a damaged or inconsistent file: say so, keep the page usable
        st.error(f"The model {name!r} cannot be used: {error}. Pick another model or retrain it.")
        import_section()
        st.stop()
    test_time_flip = bool(metadata.get("config", {}).get("test_time_flip", False))
    fit = st.radio("Make each photo square by", list(FIT_LABELS), format_func=FIT_LABELS.get, horizontal=True)
    inputs = gather_inputs()
    items = classify_all(model, inputs, (name, modified), fit, class_names, test_time_flip)
    if not inputs:
        st.info("Upload one or more photos (or take one, or pick a sample) to classify them.")
    elif items:
        item = summary(items) if len(items) > 1 else items[0]
        details(model, item, fit, class_names, test_time_flip)
        look_inside(model, item)
import_section()

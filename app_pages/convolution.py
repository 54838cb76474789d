"""Convolution & pooling: pick an image and a kernel, then watch the feature maps and one window's arithmetic.

The page only gathers settings and lays out results: the math is cnn_core.ops, the charts and formulas
cnn_core.figures, every word locales/<language>/convolution.toml and math.toml. No TensorFlow here,
so the page opens instantly. Widgets have keys, so switching the language keeps their settings.
"""

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.language import current_language, error_text, t
from cnn_core import figures, images, kernels, ops, samples

FROM_MODEL = "from_model"  # the preset slot of a learned filter sent from the classify page
CHANNELS = ("red", "green", "blue")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]
STILL = {"displayModeBar": False}
language = current_language()


@st.cache_data(max_entries=8, show_spinner=False)
def decode_upload(file_id: str, _data: bytes) -> tuple[np.ndarray, tuple[int, int], bool]:
    """Uploaded bytes -> (uint8 RGB array ready to compute on, original size, whether it was shrunk).

    Keyed by the upload's unique id (the leading underscore stops Streamlit hashing up to 20 MB of
    bytes on every rerun); unique ids also mean one visitor's upload is never served to another.
    """
    image = images.load_image(_data)
    shown, shrunk = images.fit_for_display(image)
    return images.to_array(shown), image.size, shrunk


@st.cache_data(max_entries=16, show_spinner=False)
def sample_array(name: str) -> np.ndarray:
    """A bundled sample as a uint8 RGB array."""
    return images.to_array(images.fit_for_display(samples.load_sample(name))[0])


def model_kernel() -> np.ndarray | None:
    """The learned filter the classify page left in session state, if it is a usable 2-D matrix."""
    value = st.session_state.get("kernel_from_model")
    try:
        kernel = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    ok = kernel.ndim == 2 and 1 <= min(kernel.shape) and max(kernel.shape) <= 11 and np.isfinite(kernel).all()
    return kernel if ok else None


def choices(prefix: str, options: list) -> dict:
    """Option id -> its text, looked up now: AppTest (and any later call) may format options outside this run."""
    return {option: t(f"{prefix}{option}") for option in options}


st.title(t("convolution.title"))
st.markdown(t("convolution.intro"))

image_column, kernel_column, settings_column = st.columns([1.2, 1, 1], gap="large")

with image_column:
    st.subheader(t("convolution.image.heading"))
    upload = st.file_uploader(t("convolution.image.upload"), type=UPLOAD_TYPES, key="upload",
                              help=t("convolution.image.upload_help", side=images.MAX_DISPLAY_SIDE,
                                     limit=st.get_option("server.maxUploadSize")))
    sample_name = st.selectbox(t("convolution.image.sample"), samples.sample_names(), key="sample",
                               format_func=lambda name: samples.sample_label(name, language),
                               disabled=upload is not None)
    colours = choices("convolution.image.", ["grey", "rgb"])
    colour = st.radio(t("convolution.image.colour"), list(colours), key="colour", horizontal=True, format_func=colours.get)
    ways = {False: t("convolution.image.separate"), True: t("convolution.image.summed")}
    summed = colour == "rgb" and st.radio(t("convolution.image.channels"), list(ways), key="summed", format_func=ways.get)

if upload is not None:
    try:
        rgb, original_size, shrunk = decode_upload(upload.file_id, upload.getvalue())
    except images.ImageError as error:
        st.error(t("convolution.image.unusable", name=upload.name, reason=error_text(error)))
        st.stop()
    if shrunk:
        st.info(t("convolution.image.shrunk", width=original_size[0], height=original_size[1], new_width=rgb.shape[1],
                  new_height=rgb.shape[0], side=images.MAX_DISPLAY_SIDE))
else:
    rgb = sample_array(sample_name)
    with image_column:
        st.caption(samples.sample_credit(sample_name, language))
x = rgb if colour == "rgb" else images.to_grayscale_array(rgb)

with kernel_column:
    st.subheader(t("convolution.kernel.heading"))
    learned = model_kernel()
    presets = ({FROM_MODEL: t("convolution.kernel.from_model")} if learned is not None else {}) | \
        {preset_id: preset.label(language) for preset_id, preset in kernels.KERNEL_PRESETS.items()}
    preset_id = st.selectbox(t("convolution.kernel.preset"), list(presets), format_func=presets.get, key="preset",
                             index=0 if learned is not None else list(presets).index(kernels.DEFAULT_PRESET))
    if preset_id == FROM_MODEL:
        st.caption(t("convolution.kernel.from_model_note"))
        start, size_label = learned, "x".join(map(str, learned.shape))
    else:
        preset = kernels.KERNEL_PRESETS[preset_id]
        st.caption(preset.description(language))
        size = st.radio(t("convolution.kernel.size"), list(preset.sizes), format_func=lambda n: f"{n}×{n}",
                        horizontal=True, key=f"size-{preset_id}")
        start, size_label = preset.kernel(size), f"{size}x{size}"
    st.caption(t("convolution.kernel.edit_note"))
    table = pd.DataFrame(start, columns=[str(i + 1) for i in range(start.shape[1])])
    edited = st.data_editor(table, key=f"kernel-{preset_id}-{size_label}", hide_index=True,
                            column_config={name: st.column_config.NumberColumn(format="%.3f") for name in table.columns})
    kernel = edited.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=np.float32)

with settings_column:
    st.subheader(t("convolution.settings.heading"))
    stride = st.slider(t("convolution.settings.stride"), 1, 4, 1, key="stride", help=t("convolution.settings.stride_help"))
    paddings = choices("convolution.settings.padding_", ["valid", "same", "zeros"])
    padding_choice = st.selectbox(t("convolution.settings.padding"), list(paddings), key="padding",
                                  format_func=paddings.get, help=t("convolution.settings.padding_help"))
    padding = (int(st.number_input(t("convolution.settings.zeros"), 0, 10, 1, key="zeros"))
               if padding_choice == "zeros" else padding_choice)
    dilation = st.slider(t("convolution.settings.dilation"), 1, 4, 1, key="dilation",
                         help=t("convolution.settings.dilation_help"))
    bias = st.number_input(t("convolution.settings.bias"), value=0.0, step=10.0, key="bias",
                           help=t("convolution.settings.bias_help"))
    use_relu = st.toggle(t("convolution.settings.relu"), value=True, key="relu")
    pool_modes = choices("convolution.settings.pooling_", ["max", "avg", "none"])
    pool_mode = st.selectbox(t("convolution.settings.pooling"), list(pool_modes), key="pool_mode", format_func=pool_modes.get)
    if pool_mode != "none":
        pool_size = st.slider(t("convolution.settings.pool_size"), 2, 4, 2, key="pool_size")
        pool_stride = st.slider(t("convolution.settings.pool_stride"), 1, 4, pool_size, key=f"pool-stride-{pool_size}")
        pool_padding = st.selectbox(t("convolution.settings.pool_padding"), ["valid", "same"], key="pool_padding",
                                    format_func=paddings.get)

# --- Compute: one call per stage, all in cnn_core.ops; settings that cannot fit get a message in words ---
weights = np.repeat(kernel[:, :, None], 3, axis=2) if summed else kernel
conv_shape = [ops.output_size(n, k, stride, padding, dilation) for n, k in zip(x.shape[:2], kernel.shape)]
if min(conv_shape) < 1:
    st.error(t("convolution.errors.kernel_too_big", kernel=size_label, height=x.shape[0], width=x.shape[1]))
    st.stop()
if pool_mode != "none" and min(ops.output_size(n, pool_size, pool_stride, pool_padding) for n in conv_shape) < 1:
    st.error(t("convolution.errors.pool_too_big", size=pool_size, height=conv_shape[0], width=conv_shape[1]))
    st.stop()
try:
    conv = ops.conv2d(x, weights, stride=stride, padding=padding, dilation=dilation, bias=bias)
    activated = ops.relu(conv) if use_relu else conv
    pooled = ops.pool2d(activated, pool_size, pool_stride, pool_mode, pool_padding) if pool_mode != "none" else None
except ops.OpsError as error:  # a case the checks above missed: still a message, never a traceback
    st.error(t("convolution.errors.other", reason=error_text(error)))
    st.stop()

channel = 0
if conv.ndim == 3:
    channel_names = choices("convolution.maps.", CHANNELS)
    channel = CHANNELS.index(st.radio(t("convolution.maps.channel"), CHANNELS, horizontal=True, key="channel",
                                      format_func=channel_names.get))


def plane(values: np.ndarray) -> np.ndarray:
    """The 2-D map to draw: the chosen channel of a per-channel result."""
    return values[:, :, channel] if values.ndim == 3 else values


def shape_text(values: np.ndarray) -> str:
    """ "298 × 449" or "298 × 449 × 3"."""
    return " × ".join(str(n) for n in values.shape)


# --- Window position (chosen in section 5, drawn on the image and the maps of section 4) ---
out_rows, out_cols = conv.shape[:2]
window_input = x[:, :, channel] if (x.ndim == 3 and not summed) else x
pads = ops.padding_amounts(x.shape[0], kernel.shape[0], stride, padding, dilation) + \
    ops.padding_amounts(x.shape[1], kernel.shape[1], stride, padding, dilation)

st.divider()
st.subheader(t("convolution.maps.heading"))
maps = st.container()  # filled after section 5's sliders have chosen the window to draw

st.divider()
st.subheader(t("convolution.window.heading"))
step_columns = st.columns(2)
row = step_columns[0].slider(t("convolution.window.row"), 0, out_rows - 1, out_rows // 2, key=f"row-{out_rows}")
col = step_columns[1].slider(t("convolution.window.column"), 0, out_cols - 1, out_cols // 2, key=f"col-{out_cols}")
window = ops.window_at(window_input, weights, row, col, stride=stride, padding=padding, dilation=dilation, bias=bias)
if pooled is not None:
    pooled_cell = figures.pooled_position(row, col, conv.shape, pool_size, pool_stride, pool_padding)

limit = figures.colour_limit(plane(conv))  # one colour range for all maps, so they compare
map_columns = maps.columns(4)
with map_columns[0]:
    st.plotly_chart(figures.image_figure(x, t("convolution.maps.input"), window, pads), config=STILL)
    st.markdown(t("convolution.maps.shape", name=t("convolution.maps.input"), shape=shape_text(x)))
with map_columns[1]:
    st.plotly_chart(figures.feature_map_figure(plane(conv), t("convolution.maps.convolution"), limit, (row, col),
                                               language=language), config=STILL)
    st.markdown(t("convolution.maps.shape", name=t("convolution.maps.convolution_output"), shape=shape_text(conv)))
with map_columns[2]:
    if use_relu:
        st.plotly_chart(figures.feature_map_figure(plane(activated), t("convolution.maps.after_relu"), limit,
                                                   (row, col), colour_bar=False, language=language), config=STILL)
        st.markdown(t("convolution.maps.shape", name=t("convolution.maps.after_relu"), shape=shape_text(activated))
                    + " · " + t("convolution.maps.zeros", share=float(np.mean(activated <= 0))))
    else:
        st.info(t("convolution.maps.relu_off"))
with map_columns[3]:
    if pooled is not None:
        st.plotly_chart(figures.feature_map_figure(plane(pooled), t(f"convolution.maps.after_{pool_mode}_pooling"), limit,
                                                   pooled_cell, colour_bar=False, language=language), config=STILL)
        st.markdown(t("convolution.maps.shape", name=t("convolution.maps.after_pooling"), shape=shape_text(pooled)))
    else:
        st.info(t("convolution.maps.pooling_off"))

maps.markdown(t("convolution.maps.output_size"))
maps.latex(figures.output_size_latex(x.shape[0], kernel.shape[0], stride, padding, dilation, "H", language=language))
maps.latex(figures.output_size_latex(x.shape[1], kernel.shape[1], stride, padding, dilation, "W", language=language))
for faq, column in zip(("why_relu", "why_pooling_shrinks", "choose_kernels"), maps.columns(3)):
    with column.expander(t(f"math.faq.{faq}.question")):
        st.markdown(t(f"math.faq.{faq}.answer"))

# --- One window, step by step: the patch, the weights, their products and the sum ---
source = (t("convolution.window.source_summed") if summed else
          t(f"convolution.window.source_{CHANNELS[channel]}") if x.ndim == 3 else t("convolution.window.source_grey"))
st.markdown(t("convolution.window.reads", row=row, col=col, first_row=int(window.rows[0]), last_row=int(window.rows[-1]),
              first_col=int(window.cols[0]), last_col=int(window.cols[-1]), source=source))
patch = window.patch.sum(axis=2) if summed else window.patch
products = window.products.sum(axis=2) if summed else window.products
parts = st.columns(3)
parts[0].plotly_chart(figures.matrix_figure(patch, t("convolution.window.patch", source=source), diverging=False),
                      key="patch", config=STILL)
parts[1].plotly_chart(figures.matrix_figure(kernel, t("convolution.window.weights")), key="weights", config=STILL)
parts[2].plotly_chart(figures.matrix_figure(products, t("convolution.window.products")), key="products", config=STILL)
st.markdown(t("convolution.window.sum_intro"))
st.latex(figures.window_sum_latex(window, weights, bias, use_relu))
st.caption(t("convolution.window.check", row=row, col=col, value=float(plane(conv)[row, col])))

steps = st.columns(2)
with steps[0]:
    if use_relu:
        st.markdown(t("convolution.window.relu_intro"))
        st.latex(figures.relu_latex(float(plane(conv)[row, col])))
with steps[1]:
    if pooled is not None:
        st.markdown(t(f"convolution.window.{pool_mode}_pool_intro", size=pool_size, row=pooled_cell[0], col=pooled_cell[1]))
        st.latex(figures.pool_window_latex(plane(activated), *pooled_cell, pool_size, pool_stride, pool_mode, pool_padding))

# --- The general formulas, each with a sentence in words ---
st.divider()
st.subheader(t("convolution.math_heading"))
math_columns = st.columns(2)
with math_columns[0]:
    st.markdown(t("math.convolution.words"))
    if summed:
        st.markdown(t("math.convolution.channels"))
    st.latex(figures.CONVOLUTION_SUM_CHANNELS if summed else figures.CONVOLUTION_SUM)
    st.markdown(t("math.relu.words"))
    st.latex(figures.RELU)
with math_columns[1]:
    st.markdown(t("math.output_size.words"))
    st.latex(figures.OUTPUT_SIZE)
    st.markdown(t("math.pooling.words"))
    st.latex(figures.MAX_POOL)
    st.latex(figures.AVG_POOL)

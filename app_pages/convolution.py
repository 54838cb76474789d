"""Convolution & pooling: pick an image and a kernel, then watch the feature maps and one window's arithmetic.

The page only gathers settings and lays out results: the math is cnn_core.convolution.ops, the charts
and formulas cnn_core.convolution.figures, every word locales/<language>/convolution.toml and math.toml. No TensorFlow here,
so the page opens instantly. Widgets have keys, so switching the language keeps their settings.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.parts import exercises as exercise_box
from app_pages.parts.language import current_language, error_text, t
from cnn_core import images, samples
from cnn_core.convolution import figures, kernels, ops
from cnn_core.convolution.exercises import convolution_exercises

FROM_MODEL = "from_model"  # the preset slot of a learned filter sent from the classify page
CHANNELS = ("red", "green", "blue")
STILL = {"displayModeBar": False}
language = current_language()


def decode_upload(file_id: str, data: bytes) -> tuple[np.ndarray, tuple[int, int], bool]:
    """Uploaded bytes -> (uint8 RGB array ready to compute on, original size, whether it was shrunk).

    Decoded once per upload (keyed by its unique id) and kept in this session only: the page shows one
    upload at a time, so one entry, and it goes with the tab (st.cache_* would outlive it, for everyone).
    """
    kept = st.session_state.setdefault("convolution_decoded", {})
    if file_id not in kept:
        kept.clear()  # the previous upload's array goes first
        shown, size = images.load_shrunk(data, images.MAX_DISPLAY_SIDE)  # never the full-size picture in memory
        kept[file_id] = (images.to_array(shown), size, shown.size != size)
    return kept[file_id]


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


@dataclass
class Layer:
    """The layer's settings from the third column: convolution, ReLU and pooling."""

    stride: int
    padding: str | int
    dilation: int
    bias: float
    use_relu: bool
    pool_mode: str
    pool_size: int = 2
    pool_stride: int = 2
    pool_padding: str = "valid"


@dataclass
class Maps:
    """The input and everything computed from it, plus which colour channel is shown."""

    x: np.ndarray
    kernel: np.ndarray
    weights: np.ndarray
    summed: bool
    conv: np.ndarray
    activated: np.ndarray
    pooled: np.ndarray | None
    channel: int = 0

    def plane(self, values: np.ndarray) -> np.ndarray:
        """The 2-D map to draw: the chosen channel of a per-channel result."""
        return values[:, :, self.channel] if values.ndim == 3 else values


def shape_text(values: np.ndarray) -> str:
    """ "298 × 449" or "298 × 449 × 3"."""
    return " × ".join(str(n) for n in values.shape)


def image_section(column) -> tuple[np.ndarray, bool]:
    """1 · the picture: an upload or a sample, grey or colour -> (x, whether channels are summed)."""
    with column:
        st.subheader(t("convolution.image.heading"))
        upload = st.file_uploader(t("convolution.image.upload"), type=list(images.UPLOAD_TYPES), key="upload",
                                  help=t("convolution.image.upload_help", side=images.MAX_DISPLAY_SIDE,
                                         limit=st.get_option("server.maxUploadSize")))
        sample_name = st.selectbox(t("convolution.image.sample"), samples.sample_names(), key="sample",
                                   format_func=lambda name: samples.sample_label(name, language),
                                   disabled=upload is not None)
        colours = choices("convolution.image.", ["grey", "rgb"])
        colour = st.radio(t("convolution.image.colour"), list(colours), key="colour", horizontal=True,
                          format_func=colours.get)
        ways = {False: t("convolution.image.separate"), True: t("convolution.image.summed")}
        summed = colour == "rgb" and st.radio(t("convolution.image.channels"), list(ways), key="summed",
                                              format_func=ways.get)
    if upload is not None:
        rgb = uploaded_array(upload)
    else:
        rgb = sample_array(sample_name)
        column.caption(samples.sample_credit(sample_name, language))
    return (rgb if colour == "rgb" else images.to_grayscale_array(rgb)), summed


def uploaded_array(upload) -> np.ndarray:
    """The upload as an array, with a note when it was shrunk; a message and stop when it is no usable image."""
    try:
        rgb, original_size, shrunk = decode_upload(upload.file_id, upload.getvalue())
    except images.ImageError as error:
        st.error(t("convolution.image.unusable", name=upload.name, reason=error_text(error)))
        st.stop()
    if shrunk:
        st.info(t("convolution.image.shrunk", width=original_size[0], height=original_size[1], new_width=rgb.shape[1],
                  new_height=rgb.shape[0], side=images.MAX_DISPLAY_SIDE))
    return rgb


def kernel_section(column) -> tuple[np.ndarray, str]:
    """2 · the kernel: a preset (or the classify page's learned filter), editable cell by cell."""
    with column:
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
    return edited.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=np.float32), size_label


def settings_section(column) -> Layer:
    """3 · stride, padding, dilation, bias, ReLU and pooling."""
    with column:
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
        pool_mode = st.selectbox(t("convolution.settings.pooling"), list(pool_modes), key="pool_mode",
                                 format_func=pool_modes.get)
        layer = Layer(stride, padding, dilation, bias, use_relu, pool_mode)
        if pool_mode != "none":
            layer.pool_size = st.slider(t("convolution.settings.pool_size"), 2, 4, 2, key="pool_size")
            layer.pool_stride = st.slider(t("convolution.settings.pool_stride"), 1, 4, layer.pool_size,
                                          key=f"pool-stride-{layer.pool_size}")
            layer.pool_padding = st.selectbox(t("convolution.settings.pool_padding"), ["valid", "same"],
                                              key="pool_padding", format_func=paddings.get)
    return layer


def compute(x: np.ndarray, kernel: np.ndarray, size_label: str, summed: bool, layer: Layer) -> Maps:
    """One call per stage, all in cnn_core.convolution.ops; settings that cannot fit get a message in words."""
    weights = np.repeat(kernel[:, :, None], 3, axis=2) if summed else kernel
    conv_shape = [ops.output_size(n, k, layer.stride, layer.padding, layer.dilation) for n, k in zip(x.shape[:2], kernel.shape)]
    if min(conv_shape) < 1:
        st.error(t("convolution.errors.kernel_too_big", kernel=size_label, height=x.shape[0], width=x.shape[1]))
        st.stop()
    pooling = layer.pool_mode != "none"
    if pooling and min(ops.output_size(n, layer.pool_size, layer.pool_stride, layer.pool_padding) for n in conv_shape) < 1:
        st.error(t("convolution.errors.pool_too_big", size=layer.pool_size, height=conv_shape[0], width=conv_shape[1]))
        st.stop()
    try:
        conv = ops.conv2d(x, weights, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, bias=layer.bias)
        activated = ops.relu(conv) if layer.use_relu else conv
        pooled = (ops.pool2d(activated, layer.pool_size, layer.pool_stride, layer.pool_mode, layer.pool_padding)
                  if pooling else None)
    except ops.OpsError as error:  # a case the checks above missed: still a message, never a traceback
        st.error(t("convolution.errors.other", reason=error_text(error)))
        st.stop()
    maps = Maps(x, kernel, weights, summed, conv, activated, pooled)
    if conv.ndim == 3:
        channel_names = choices("convolution.maps.", CHANNELS)
        maps.channel = CHANNELS.index(st.radio(t("convolution.maps.channel"), CHANNELS, horizontal=True, key="channel",
                                               format_func=channel_names.get))
    return maps


def window_section(maps: Maps, layer: Layer) -> ops.Window:
    """5's sliders: which output cell's window to follow (drawn on the image and on the maps of section 4)."""
    out_rows, out_cols = maps.conv.shape[:2]
    window_input = maps.x[:, :, maps.channel] if (maps.x.ndim == 3 and not maps.summed) else maps.x
    step_columns = st.columns(2)
    row = step_columns[0].slider(t("convolution.window.row"), 0, out_rows - 1, out_rows // 2, key=f"row-{out_rows}")
    col = step_columns[1].slider(t("convolution.window.column"), 0, out_cols - 1, out_cols // 2, key=f"col-{out_cols}")
    return ops.window_at(window_input, maps.weights, row, col, stride=layer.stride, padding=layer.padding,
                         dilation=layer.dilation, bias=layer.bias)


def maps_section(container, maps: Maps, layer: Layer, window: ops.Window, pooled_cell) -> None:
    """4 · the input and the three feature maps, one colour range, and the output-size formula."""
    x, kernel = maps.x, maps.kernel
    pads = ops.padding_amounts(x.shape[0], kernel.shape[0], layer.stride, layer.padding, layer.dilation) + \
        ops.padding_amounts(x.shape[1], kernel.shape[1], layer.stride, layer.padding, layer.dilation)
    limit = figures.colour_limit(maps.plane(maps.conv))  # one colour range for all maps, so they compare
    cell = (window.row, window.col)
    columns = container.columns(4)
    with columns[0]:
        st.plotly_chart(figures.image_figure(x, t("convolution.maps.input"), window, pads), config=STILL)
        st.markdown(t("convolution.maps.shape", name=t("convolution.maps.input"), shape=shape_text(x)))
    with columns[1]:
        st.plotly_chart(figures.feature_map_figure(maps.plane(maps.conv), t("convolution.maps.convolution"), limit, cell,
                                                   language=language), config=STILL)
        st.markdown(t("convolution.maps.shape", name=t("convolution.maps.convolution_output"), shape=shape_text(maps.conv)))
    with columns[2]:
        relu_map(maps, layer, limit, cell)
    with columns[3]:
        pooled_map(maps, layer, limit, pooled_cell)
    container.markdown(t("convolution.maps.output_size"))
    for axis, name in ((0, "H"), (1, "W")):
        container.latex(figures.output_size_latex(x.shape[axis], kernel.shape[axis], layer.stride, layer.padding,
                                                  layer.dilation, name, language=language))
    for faq, column in zip(("why_relu", "why_pooling_shrinks", "choose_kernels"), container.columns(3)):
        with column.expander(t(f"math.faq.{faq}.question")):
            st.markdown(t(f"math.faq.{faq}.answer"))


def relu_map(maps: Maps, layer: Layer, limit: float, cell: tuple[int, int]) -> None:
    """The map after ReLU, with the share of zeros it made (or a note that ReLU is off)."""
    if not layer.use_relu:
        st.info(t("convolution.maps.relu_off"))
        return
    st.plotly_chart(figures.feature_map_figure(maps.plane(maps.activated), t("convolution.maps.after_relu"), limit,
                                               cell, colour_bar=False, language=language), config=STILL)
    st.markdown(t("convolution.maps.shape", name=t("convolution.maps.after_relu"), shape=shape_text(maps.activated))
                + " · " + t("convolution.maps.zeros", share=float(np.mean(maps.activated <= 0))))


def pooled_map(maps: Maps, layer: Layer, limit: float, pooled_cell) -> None:
    """The pooled map (or a note that pooling is off)."""
    if maps.pooled is None:
        st.info(t("convolution.maps.pooling_off"))
        return
    st.plotly_chart(figures.feature_map_figure(maps.plane(maps.pooled), t(f"convolution.maps.after_{layer.pool_mode}_pooling"),
                                               limit, pooled_cell, colour_bar=False, language=language), config=STILL)
    st.markdown(t("convolution.maps.shape", name=t("convolution.maps.after_pooling"), shape=shape_text(maps.pooled)))


def arithmetic_section(maps: Maps, layer: Layer, window: ops.Window, pooled_cell) -> None:
    """5 · one window, step by step: the patch, the weights, their products, the sum, ReLU and pooling."""
    row, col, x, summed = window.row, window.col, maps.x, maps.summed
    source = (t("convolution.window.source_summed") if summed else
              t(f"convolution.window.source_{CHANNELS[maps.channel]}") if x.ndim == 3 else t("convolution.window.source_grey"))
    st.markdown(t("convolution.window.reads", row=row, col=col, first_row=int(window.rows[0]), last_row=int(window.rows[-1]),
                  first_col=int(window.cols[0]), last_col=int(window.cols[-1]), source=source))
    patch = window.patch.sum(axis=2) if summed else window.patch
    products = window.products.sum(axis=2) if summed else window.products
    parts = st.columns(3)
    parts[0].plotly_chart(figures.matrix_figure(patch, t("convolution.window.patch", source=source), diverging=False),
                          key="patch", config=STILL)
    parts[1].plotly_chart(figures.matrix_figure(maps.kernel, t("convolution.window.weights")), key="weights", config=STILL)
    parts[2].plotly_chart(figures.matrix_figure(products, t("convolution.window.products")), key="products", config=STILL)
    st.markdown(t("convolution.window.sum_intro"))
    st.latex(figures.window_sum_latex(window, maps.weights, layer.bias, layer.use_relu))
    value = float(maps.plane(maps.conv)[row, col])
    st.caption(t("convolution.window.check", row=row, col=col, value=value))
    steps = st.columns(2)
    if layer.use_relu:
        steps[0].markdown(t("convolution.window.relu_intro"))
        steps[0].latex(figures.relu_latex(value))
    if maps.pooled is not None:
        steps[1].markdown(t(f"convolution.window.{layer.pool_mode}_pool_intro", size=layer.pool_size,
                            row=pooled_cell[0], col=pooled_cell[1]))
        steps[1].latex(figures.pool_window_latex(maps.plane(maps.activated), *pooled_cell, layer.pool_size,
                                                 layer.pool_stride, layer.pool_mode, layer.pool_padding))


def exercises(x: np.ndarray, kernel: np.ndarray, layer: Layer) -> None:
    """Predict, then reveal: questions made from this image and these settings."""
    exercise_box.exercises_section(convolution_exercises(
        x.shape[0], kernel, layer.stride, layer.padding, layer.dilation, layer.bias, layer.pool_size, layer.pool_mode,
        seed=exercise_box.seed()), "convolution")


def math_section(summed: bool) -> None:
    """The general formulas, each with a sentence in words."""
    st.divider()
    st.subheader(t("convolution.math_heading"))
    left, right = st.columns(2)
    left.markdown(t("math.convolution.words"))
    if summed:
        left.markdown(t("math.convolution.channels"))
    left.latex(figures.CONVOLUTION_SUM_CHANNELS if summed else figures.CONVOLUTION_SUM)
    left.markdown(t("math.relu.words"))
    left.latex(figures.RELU)
    right.markdown(t("math.output_size.words"))
    right.latex(figures.OUTPUT_SIZE)
    right.markdown(t("math.pooling.words"))
    right.latex(figures.MAX_POOL)
    right.latex(figures.AVG_POOL)


st.title(t("convolution.title"))
st.markdown(t("convolution.intro"))
image_column, kernel_column, settings_column = st.columns([1.2, 1, 1], gap="large")
x, summed = image_section(image_column)
kernel, size_label = kernel_section(kernel_column)
layer = settings_section(settings_column)
maps = compute(x, kernel, size_label, summed, layer)

st.divider()
st.subheader(t("convolution.maps.heading"))
maps_container = st.container()  # filled after section 5's sliders have chosen the window to draw
st.divider()
st.subheader(t("convolution.window.heading"))
window = window_section(maps, layer)
pooled_cell = (None if maps.pooled is None else
               figures.pooled_position(window.row, window.col, maps.conv.shape, layer.pool_size, layer.pool_stride,
                                       layer.pool_padding))
maps_section(maps_container, maps, layer, window, pooled_cell)
arithmetic_section(maps, layer, window, pooled_cell)
math_section(summed)
exercises(x, kernel, layer)

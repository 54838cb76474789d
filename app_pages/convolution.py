"""Convolution & pooling: pick an image and a kernel, then watch the feature maps and one window's arithmetic.

The page only gathers settings and lays out results: the math is cnn_core.ops, the charts cnn_core.figures.
No TensorFlow here, so the page opens instantly.
"""

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core import figures, images, kernels, ops, samples

FROM_MODEL = "From model"
CHANNELS = ("Red", "Green", "Blue")
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]


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


st.title("Convolution & pooling")
st.markdown(
    "A convolutional layer slides a small grid of weights, the **kernel**, over the image. At every stop it "
    "multiplies the pixels under the kernel by the weights and adds them up: one number of the **feature map**. "
    "Pick an image and a kernel, change the settings, and watch what comes out."
)

image_column, kernel_column, settings_column = st.columns([1.2, 1, 1], gap="large")

with image_column:
    st.subheader("1 · Image")
    upload = st.file_uploader("Upload a picture", type=UPLOAD_TYPES,
                              help=f"PNG, JPEG, WebP, GIF, BMP or TIFF. Images larger than "
                                   f"{images.MAX_DISPLAY_SIDE} px per side are shrunk to keep the page fast.")
    sample_name = st.selectbox("…or use a sample", samples.sample_names(), disabled=upload is not None)
    colour = st.radio("Colour", ["Greyscale", "RGB"], horizontal=True)
    summed = False
    if colour == "RGB":
        summed = st.radio("How the kernel meets the 3 channels",
                          ["Each channel on its own", "Summed over channels (one Conv2D filter)"]).startswith("Summed")

if upload is not None:
    try:
        rgb, original_size, shrunk = decode_upload(upload.file_id, upload.getvalue())
    except images.ImageError as error:
        st.error(f"**{upload.name}** could not be used: {error}")
        st.stop()
    if shrunk:
        st.info(f"Your {original_size[0]}×{original_size[1]} image was shrunk to {rgb.shape[1]}×{rgb.shape[0]} "
                f"(at most {images.MAX_DISPLAY_SIDE} px per side) so every change updates instantly.")
else:
    rgb = sample_array(sample_name)
    with image_column:
        st.caption(samples.sample_credit(sample_name))
x = rgb if colour == "RGB" else images.to_grayscale_array(rgb)

with kernel_column:
    st.subheader("2 · Kernel")
    learned = model_kernel()
    preset_names = ([FROM_MODEL] if learned is not None else []) + list(kernels.KERNEL_PRESETS)
    preset_name = st.selectbox("Preset", preset_names, index=0 if learned is not None else preset_names.index("Sobel x"))
    if preset_name == FROM_MODEL:
        st.caption("A filter learned by your model (its first channel), sent from the Classify page.")
        start, size_label = learned, "x".join(map(str, learned.shape))
    else:
        preset = kernels.KERNEL_PRESETS[preset_name]
        st.caption(preset.description)
        size = st.radio("Size", list(preset.sizes), format_func=lambda n: f"{n}×{n}", horizontal=True)
        start, size_label = preset.kernel(size), f"{size}x{size}"
    st.caption("Edit any weight below; the maps update as you type.")
    table = pd.DataFrame(start, columns=[str(i + 1) for i in range(start.shape[1])])
    edited = st.data_editor(table, key=f"kernel-{preset_name}-{size_label}", hide_index=True,
                            column_config={name: st.column_config.NumberColumn(format="%.3f") for name in table.columns})
    kernel = edited.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=np.float32)

with settings_column:
    st.subheader("3 · Settings")
    stride = st.slider("Stride", 1, 4, 1, help="How many pixels the kernel moves between stops.")
    padding_choice = st.selectbox("Padding", ["valid", "same", "zeros"],
                                  help="valid: no border; same: output = ceil(input / stride), like Keras; "
                                       "zeros: a border of your chosen width.")
    padding = int(st.number_input("Zeros on each side", 0, 10, 1)) if padding_choice == "zeros" else padding_choice
    dilation = st.slider("Dilation", 1, 4, 1, help="Gaps between the kernel's taps: a wider view, same weights.")
    bias = st.number_input("Bias", value=0.0, step=10.0, help="Added to every output value.")
    use_relu = st.toggle("ReLU after the convolution", value=True)
    pool_mode = st.selectbox("Pooling", ["max", "avg", "none"])
    if pool_mode != "none":
        pool_size = st.slider("Pool size", 2, 4, 2)
        pool_stride = st.slider("Pool stride", 1, 4, pool_size, key=f"pool-stride-{pool_size}")
        pool_padding = st.selectbox("Pool padding", ["valid", "same"])

# --- Compute: one call per stage, all in cnn_core.ops ---
weights = np.repeat(kernel[:, :, None], 3, axis=2) if summed else kernel
try:
    conv = ops.conv2d(x, weights, stride=stride, padding=padding, dilation=dilation, bias=bias)
    activated = ops.relu(conv) if use_relu else conv
    pooled = ops.pool2d(activated, pool_size, pool_stride, pool_mode, pool_padding) if pool_mode != "none" else None
except ops.OpsError as error:
    st.error(str(error))
    st.stop()

channel = 0
if conv.ndim == 3:
    channel = CHANNELS.index(st.radio("Channel to show", CHANNELS, horizontal=True))


def plane(values: np.ndarray) -> np.ndarray:
    """The 2-D map to draw: the chosen channel of a per-channel result."""
    return values[:, :, channel] if values.ndim == 3 else values


def shape_text(values: np.ndarray) -> str:
    return " × ".join(str(n) for n in values.shape)


# --- Window position (chosen below, drawn on the image and the output map above) ---
out_rows, out_cols = conv.shape[:2]
window_input = x[:, :, channel] if (x.ndim == 3 and not summed) else x
pads = ops.padding_amounts(x.shape[0], kernel.shape[0], stride, padding, dilation) + \
    ops.padding_amounts(x.shape[1], kernel.shape[1], stride, padding, dilation)

st.divider()
st.subheader("4 · Feature maps")
maps = st.container()  # filled after section 5's sliders have chosen the window to draw

st.divider()
st.subheader("5 · One window, step by step")
step_columns = st.columns(2)
row = step_columns[0].slider("Output row", 0, out_rows - 1, out_rows // 2, key=f"row-{out_rows}")
col = step_columns[1].slider("Output column", 0, out_cols - 1, out_cols // 2, key=f"col-{out_cols}")
window = ops.window_at(window_input, weights, row, col, stride=stride, padding=padding, dilation=dilation, bias=bias)

limit = figures.colour_limit(plane(conv))  # one colour range for all maps, so they compare
map_columns = maps.columns(4)
with map_columns[0]:
    st.plotly_chart(figures.image_figure(x, "Input", window, pads), config={"displayModeBar": False})
    st.markdown(f"**Input:** {shape_text(x)}")
with map_columns[1]:
    st.plotly_chart(figures.feature_map_figure(plane(conv), "Convolution (signed)", limit, (row, col)),
                    config={"displayModeBar": False})
    st.markdown(f"**Convolution output:** {shape_text(conv)}")
with map_columns[2]:
    if use_relu:
        st.plotly_chart(figures.feature_map_figure(plane(activated), "After ReLU", limit, colour_bar=False),
                        config={"displayModeBar": False})
        st.markdown(f"**After ReLU:** {shape_text(activated)} · {np.mean(activated <= 0):.0%} zeros")
    else:
        st.info("ReLU is off: pooling works on the signed convolution output.")
with map_columns[3]:
    if pooled is not None:
        st.plotly_chart(figures.feature_map_figure(plane(pooled), f"After {pool_mode} pooling", limit, colour_bar=False),
                        config={"displayModeBar": False})
        st.markdown(f"**After pooling:** {shape_text(pooled)}")
    else:
        st.info("Pooling is off.")

maps.markdown("**Output size** (rows, then columns), with your numbers:")
maps.latex(figures.output_size_latex(x.shape[0], kernel.shape[0], stride, padding, dilation, "H"))
maps.latex(figures.output_size_latex(x.shape[1], kernel.shape[1], stride, padding, dilation, "W"))

# --- One window, step by step ---
what = "R+G+B" if summed else ("the " + CHANNELS[channel].lower() + " channel" if x.ndim == 3 else "the grey values")
st.markdown(f"Output position **({row}, {col})** reads input rows {window.rows[0]}…{window.rows[-1]} and columns "
            f"{window.cols[0]}…{window.cols[-1]} of {what} (positions outside the image are zero padding).")
patch = window.patch.sum(axis=2) if summed else window.patch
products = window.products.sum(axis=2) if summed else window.products
parts = st.columns(3)
parts[0].plotly_chart(figures.matrix_figure(patch, f"Input patch ({what})", diverging=False), key="patch",
                      config={"displayModeBar": False})
parts[1].plotly_chart(figures.matrix_figure(kernel, "Kernel weights"), key="weights", config={"displayModeBar": False})
parts[2].plotly_chart(figures.matrix_figure(products, "Products w × x"), key="products", config={"displayModeBar": False})
st.latex(figures.window_sum_latex(window, bias, use_relu))
st.caption(f"Check: the convolution output at ({row}, {col}) is {float(plane(conv)[row, col]):.4g}.")

# --- The math ---
st.divider()
st.subheader("The math")
math_columns = st.columns(2)
with math_columns[0]:
    st.markdown("**Convolution** (Keras' Conv2D: a cross-correlation, the kernel is not flipped), stride *s*, dilation *d*:")
    st.latex(figures.CONVOLUTION_SUM_CHANNELS if summed else figures.CONVOLUTION_SUM)
    st.markdown("**Activation:**")
    st.latex(figures.RELU)
with math_columns[1]:
    st.markdown("**Output size** for input *n*, kernel *k*, padding *p*:")
    st.latex(figures.OUTPUT_SIZE)
    st.markdown("**Pooling** over a *P*×*P* window with stride *S*:")
    st.latex(figures.MAX_POOL)
    st.latex(figures.AVG_POOL)

"""Home: what CNN Studio teaches, the path an image takes through a CNN, and a link to each page.

Works offline and renders fast: a drawn sample and three numpy operations, no TensorFlow.
"""

import streamlit as st

from cnn_core import figures, images, kernels, ops, samples

st.title("CNN Studio")
st.markdown(
    "Learn how a **convolutional neural network** (CNN) looks at a picture, by doing it yourself: "
    "slide kernels over your own photos, train a small CNN on CIFAR-10 and watch it learn, then ask it "
    "what it sees in your images, and why."
)

# --- The story: every CNN in this app follows the same path. ---
st.subheader("From pixels to a class, step by step")
STEPS = [
    ("🖼️ Image", "A grid of numbers: height × width × 3 colour channels, each 0–255.", "app_pages/convolution.py"),
    ("🔍 Convolution", "Small kernels slide over the image; each makes a feature map that lights up where "
                      "its pattern (an edge, a colour blob) appears. ReLU then keeps only the positive part.",
     "app_pages/convolution.py"),
    ("⬇️ Pooling", "Keeps the strongest response in each 2×2 block: half the size, the same features, "
                  "less sensitive to exact positions.", "app_pages/convolution.py"),
    ("🧮 Dense", "Every remaining feature votes for every class with a learned weight: one score per class.",
     "app_pages/training.py"),
    ("📊 Softmax", "Turns the scores into probabilities that add up to 1.", "app_pages/classify.py"),
    ("🏷️ Class", "The most probable class is the answer: cat, ship, truck…", "app_pages/classify.py"),
]
for number, (column, (name, text, page)) in enumerate(zip(st.columns(len(STEPS)), STEPS), start=1):
    with column.container(border=True, height="stretch"):
        st.markdown(f"**{number} · {name}**")
        st.caption(text)
        st.page_link(page, label="Explore", icon="➡️")

st.markdown("One kernel on a drawn sample, computed as this page loaded:")
picture = images.to_grayscale_array(samples.load_sample("Shapes"))
edges = ops.conv2d(picture, kernels.preset_kernel("Sobel x"))
pooled = ops.pool2d(ops.relu(edges), 2)
limit = figures.colour_limit(edges)
stages = st.columns(3)
stages[0].image(picture, caption=f"Image {picture.shape[0]}×{picture.shape[1]}", width="stretch")
stages[1].image(figures.signed_map_image(edges, limit), width="stretch",
                caption=f"Sobel x convolution {edges.shape[0]}×{edges.shape[1]} (red +, blue −)")
stages[2].image(figures.signed_map_image(pooled, limit), width="stretch",
                caption=f"ReLU, then 2×2 max pooling {pooled.shape[0]}×{pooled.shape[1]}")

# --- What each page does. ---
st.subheader("What you can do here")
pages = st.columns(3)
with pages[0].container(border=True, height="stretch"):
    st.markdown("#### 🔍 Convolution & pooling")
    st.markdown("Upload a picture or pick a sample, choose or edit a kernel, set stride, padding, dilation "
                "and pooling, and follow one window's multiplications step by step.")
    st.page_link("app_pages/convolution.py", label="See convolution at work", icon="🔍")
with pages[1].container(border=True, height="stretch"):
    st.markdown("#### 🏋️ Train a CNN")
    st.markdown("Design a network, choose augmentation and an optimizer, train on CIFAR-10 and watch loss "
                "and accuracy update live. Stop any time; the trained model is kept.")
    st.page_link("app_pages/training.py", label="Train a model", icon="🏋️")
with pages[2].container(border=True, height="stretch"):
    st.markdown("#### 🏷️ Classify images")
    st.markdown("Give a trained model your own photos: see its top classes with probabilities, and which "
                "parts of the picture its decision rests on.")
    st.page_link("app_pages/classify.py", label="Classify a photo", icon="🏷️")

with st.expander("The math in one place"):
    st.markdown("Convolution (stride *s*, dilation *d*, bias *b*), then ReLU:")
    st.latex(figures.CONVOLUTION_SUM)
    st.latex(figures.RELU)
    st.markdown("Max pooling over *P*×*P* windows, then a dense layer and softmax over *K* classes:")
    st.latex(figures.MAX_POOL)
    st.latex(r"z_k = b_k + \sum_i W_{k,i}\, a_i \qquad p_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}")

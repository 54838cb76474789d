"""CNN Studio: the entry point. `streamlit run app.py` starts here.

This file only declares the pages; each page is a thin script in pages/ that calls cnn_core.
No TensorFlow here: the home and convolution pages must start fast.
"""

import streamlit as st

st.set_page_config(page_title="CNN Studio", page_icon="🧠", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/convolution.py", title="Convolution & pooling", icon="🔍", url_path="convolution"),
    st.Page("pages/training.py", title="Train a CNN", icon="🏋️", url_path="training"),
    st.Page("pages/classify.py", title="Classify images", icon="🏷️", url_path="classify"),
]
st.navigation(pages).run()

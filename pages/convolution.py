"""Placeholder: convolution page."""

import streamlit as st

st.title("convolution")
st.info("Coming soon.")

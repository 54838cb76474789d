"""Placeholder: training page."""

import streamlit as st

st.title("training")
st.info("Coming soon.")

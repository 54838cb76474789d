"""Placeholder: classify page."""

import streamlit as st

st.title("classify")
st.info("Coming soon.")

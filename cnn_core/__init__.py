"""CNN Studio's library: everything the app does, usable from plain Python.

This package never imports Streamlit, and importing it never imports TensorFlow:
the modules that need Keras (model, training, inference, explain) import it themselves.
"""

__version__ = "0.2.0"  # the same as pyproject.toml (tests/test_readme.py checks)

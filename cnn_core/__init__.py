"""CNN Studio's library: everything the app does, usable from plain Python.

This package never imports Streamlit, and importing it never imports TensorFlow:
the modules that need Keras (model, training, inference, explain) import it themselves.
"""

import os

__version__ = "0.2.0"  # the same as pyproject.toml (tests/test_readme.py checks)

# TensorFlow's oneDNN kernels are on by default only on CPUs with AVX-512 VNNI, bfloat16 or AMX; on an AVX2 CPU they
# trained 1.05-1.38x faster than TensorFlow's own (bench/bench_kernels.py). TensorFlow reads this once, at its import,
# and every process of ours imports this package before TensorFlow. A value set outside (0: off) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

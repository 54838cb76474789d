"""The command line, `python -m cnn_core COMMAND` (or `cnn-studio COMMAND`): `main` parses and dispatches,
one module per subcommand (`train`, `evaluate`, `predict`).
"""

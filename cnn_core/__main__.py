"""`python -m cnn_core ...`: the command line (see cnn_core/cli.py)."""

from cnn_core.cli import main

raise SystemExit(main())

"""`python -m cnn_core ...`: the command line (see cnn_core/cli/main.py)."""

from cnn_core.cli.main import main

raise SystemExit(main())

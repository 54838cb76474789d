"""Where things are: the project root, the tests folder, the shared CIFAR-10 subset, and chromium's flags."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TESTS_DIR = PROJECT_ROOT / "tests"
APP = str(PROJECT_ROOT / "router.py")  # the pages' script, as AppTest.from_file takes it (app.py is the server)
CIFAR_SUBSET = Path(
    os.environ.get(
        "CIFAR10_SUBSET",
        PROJECT_ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py",
    )
)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

"""Where CNN Studio keeps things on disk; each place can be moved by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The CIFAR-10 subset a development checkout finds beside it (this project's tests and benchmarks use it).
SHARED_SUBSET = PROJECT_ROOT.parent / "shared" / "data" / "cifar10-subset" / "cifar-10-batches-py"


def models_dir() -> Path:
    """Folder of the model registry (`models/<name>/model.keras` + `metadata.json`)."""
    return Path(os.environ.get("CNN_STUDIO_MODELS_DIR", PROJECT_ROOT / "models"))


def runs_dir() -> Path:
    """Folder where every training run keeps its config, metrics and checkpoints."""
    return Path(os.environ.get("CNN_STUDIO_RUNS_DIR", PROJECT_ROOT / "runs"))


def data_dir() -> Path:
    """Folder for downloaded or unpacked datasets."""
    return Path(os.environ.get("CNN_STUDIO_DATA_DIR", PROJECT_ROOT / "data"))


def data_roots() -> list[Path] | None:
    """Folders a typed dataset path must lie in, or None for anywhere (the default, for a desktop).

    A public server sets CNN_STUDIO_DATA_ROOTS (folders separated by os.pathsep) so that visitors cannot
    train on, and then look at, pictures from anywhere on its disk. `data_dir()` (uploads, downloads)
    is always allowed.
    """
    setting = os.environ.get("CNN_STUDIO_DATA_ROOTS", "").strip()
    if not setting:
        return None
    return [Path(folder).expanduser() for folder in setting.split(os.pathsep) if folder.strip()] + [data_dir()]

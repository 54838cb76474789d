"""Training processes run at a lower OS priority than the web server, so pages stay responsive meanwhile.

`psutil` sets it the same way on Linux, macOS (a nice value) and Windows (a priority class). The training
process calls `lower_priority()` on itself at start; a platform that refuses leaves it at normal priority.
How far is a hosting setting (settings.training_nice: CNN_STUDIO_TRAINING_NICE, default 10).
"""

from __future__ import annotations

import sys

from cnn_core.server import settings


def lower_priority() -> bool:
    """Lower this process's priority to the configured nice value (below normal on Windows); whether it did."""
    import psutil

    nice = settings.training_nice()
    if nice == 0:
        return False
    try:
        process = psutil.Process()
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            process.nice(max(process.nice(), nice))
        return True
    except (psutil.Error, OSError, AttributeError):
        return False

"""Training processes run at a lower OS priority than the web server, so pages stay responsive meanwhile.

`psutil` sets it the same way on Linux, macOS (a nice value) and Windows (a priority class). The training
process calls `lower_priority()` on itself at start; a platform that refuses leaves it at normal priority.
"""

from __future__ import annotations

import sys

TRAINING_NICE = 10  # Linux CFS weights nice 10 at ~1/10 of nice 0: the server wins a contended core ~90%


def lower_priority() -> bool:
    """Lower this process's priority (below normal on Windows, nice +10 elsewhere); whether it worked."""
    import psutil

    try:
        process = psutil.Process()
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            process.nice(max(process.nice(), TRAINING_NICE))
        return True
    except (psutil.Error, OSError, AttributeError):
        return False

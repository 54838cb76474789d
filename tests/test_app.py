"""app.py, the server's entry: its settings for a class server, measured with bench/bench_class.py, stay in force."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from helpers.paths import PROJECT_ROOT

PROBE = """
from streamlit.runtime.scriptrunner import script_runner
streamlit_own = script_runner._clean_problem_modules
import app
print(streamlit_own.__name__, script_runner._clean_problem_modules is not streamlit_own,
      type(app.app).__name__, app.app.script_path)
"""


def test_app_replaces_streamlits_keras_reset_and_serves_the_router():
    """Streamlit resets Keras after every script run (a full garbage collection each time); app.py turns that off. If a
    Streamlit upgrade renames the function, this fails instead of the patch silently doing nothing."""
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["_clean_problem_modules", "True", "App", "router.py"]


def test_the_server_watches_no_files_and_forces_no_garbage_collection():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False

"""The README promises exactly two set-up commands, and CI runs the second one verbatim."""

import re

from helpers.paths import PROJECT_ROOT as ROOT


def readme_commands() -> list[str]:
    """The bash blocks of the README's 'Set up' section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("streamlit run app.py")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_every_test_file_and_folder_the_readme_names_exists():
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\btests/[\w/]+\.py", text)) | set(re.findall(r"`(cnn_core/[\w/]+/)`", text))
    assert named, "the README names no test file or package folder"
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_the_layout_table_names_every_module_of_each_subpackage():
    # One row per cnn_core folder; each module of the folder is named in its row (so the table cannot go stale).
    text = (ROOT / "README.md").read_text()
    rows = {match[0]: match[1] for match in re.findall(r"^\| `(cnn_core/\w+/)` \| (.*) \|$", text, re.M)}
    folders = {f"cnn_core/{path.parent.name}/" for path in (ROOT / "cnn_core").glob("*/__init__.py")}
    assert set(rows) == folders
    missing = [f"{folder}{module.stem}" for folder in folders for module in (ROOT / folder).glob("*.py")
               if module.stem != "__init__" and f"`{module.stem}`" not in rows[folder]]
    assert missing == []

"""The README promises exactly two set-up commands (CI runs the second one verbatim), stays a short guide, and every file
it and the docs name or link exists; docs/design.md's layout table names every module."""

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


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_a_guide_of_about_two_hundred_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 210


def test_every_test_file_folder_and_linked_file_the_docs_name_exists():
    missing = []
    for document in DOCS:
        text = document.read_text()
        named = set(re.findall(r"\btests/[\w/]+\.py", text)) | set(re.findall(r"`(cnn_core/[\w/]+/)`", text))
        missing += [f"{document.name}: {path}" for path in named if not (ROOT / path).exists()]
        links = {link.split("#")[0] for link in re.findall(r"\]\(([^)#:]+(?:#[^)]*)?)\)", text)}
        missing += [f"{document.name}: {link}" for link in links if link and not (document.parent / link).exists()]
    assert missing == []


def test_the_layout_table_names_every_module_of_each_subpackage():
    # One row per cnn_core folder; each module of the folder is named in its row (so the table cannot go stale).
    text = (ROOT / "docs" / "design.md").read_text()
    rows = {match[0]: match[1] for match in re.findall(r"^\| `(cnn_core/\w+/)` \| (.*) \|$", text, re.M)}
    folders = {f"cnn_core/{path.parent.name}/" for path in (ROOT / "cnn_core").glob("*/__init__.py")}
    assert set(rows) == folders
    missing = [f"{folder}{module.stem}" for folder in folders for module in (ROOT / folder).glob("*.py")
               if module.stem != "__init__" and f"`{module.stem}`" not in rows[folder]]
    assert missing == []

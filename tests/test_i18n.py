"""cnn_core.i18n and the translation tables: complete, consistent, and used by every page.

Besides the tables themselves, a static scan of app_pages/ (and router.py) keeps hard-coded text
from creeping back: any string literal handed straight to a Streamlit display call fails the test.
`english_leftovers` and `CJK` live in tests/helpers/text.py, shared with the page and browser tests.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from cnn_core import i18n
from cnn_core.datasets import cifar as data

from helpers.paths import PROJECT_ROOT as ROOT
from helpers.text import CJK, ENGLISH_FRAGMENTS, PROPER_NAMES, english_leftovers

PAGE_FILES = sorted((ROOT / "app_pages").rglob("*.py")) + [ROOT / "router.py", ROOT / "app.py"]
EN, ZH = i18n.table("en"), i18n.table("zh")


# --- The tables -----------------------------------------------------------------------------------


def test_every_key_exists_in_both_languages_with_the_same_placeholders():
    assert set(EN) - set(ZH) == set(), "keys missing in Chinese"
    assert set(ZH) - set(EN) == set(), "keys missing in English"
    mismatched = {key: (i18n.placeholders(EN[key]), i18n.placeholders(ZH[key]))
                  for key in EN if i18n.placeholders(EN[key]) != i18n.placeholders(ZH.get(key, ""))}
    assert mismatched == {}


def test_no_value_is_empty_and_every_template_formats():
    for language, table in (("en", EN), ("zh", ZH)):
        assert [key for key, value in table.items() if not value.strip()] == [], language
        for key, template in table.items():
            # Braces other than placeholders (say, LaTeX subscripts) would break str.format.
            template.format(**{name: 1 for name in i18n.placeholders(template)})


def _is_sentence(english: str) -> bool:
    """Three words or more, or ending like a sentence (placeholders do not count as words)."""
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^{}]*\}", "", english))
    return len(words) >= 3 or (len(words) >= 1 and english.rstrip().endswith((".", "?", ":")))


def test_chinese_sentences_are_chinese():
    untranslated = {key: ZH[key] for key, english in EN.items() if _is_sentence(english) and not CJK.search(ZH[key])}
    assert untranslated == {}
    assert _is_sentence(EN["home.intro"]) and not _is_sentence("Sobel x")  # the rule itself


def test_class_names():
    chinese = ["飞机", "汽车", "鸟", "猫", "鹿", "狗", "青蛙", "马", "船", "卡车"]
    assert [i18n.class_label("zh", name) for name in data.CIFAR10_CLASSES] == chinese
    assert [i18n.class_label("en", name) for name in data.CIFAR10_CLASSES] == data.CIFAR10_CLASSES
    assert i18n.class_label("zh", "my_teapots") == "my_teapots"  # a user's own folder names are kept


@pytest.mark.parametrize("value, expected", [
    ("zh", "zh"), ("zh-CN", "zh"), ("ZH_hans", "zh"), (" zh ", "zh"), ("en", "en"), ("en-GB", "en"),
    ("fr", "en"), ("", "en"), (None, "en"), ("chinese", "en"),
])
def test_normalise_language(value, expected):
    assert i18n.normalise_language(value) == expected


def test_missing_key_and_unknown_language_raise():
    with pytest.raises(i18n.MissingTextError, match="no.such.key"):
        i18n.text("zh", "no.such.key")
    with pytest.raises(KeyError):  # MissingTextError is a KeyError, so callers may catch either
        i18n.text("en", "home.no_such_key")
    with pytest.raises(ValueError, match="unknown language"):
        i18n.table("fr")
    assert i18n.text("zh", "home.example.image", height=3, width=4) == "图像 3×4"


def test_the_leftover_check_finds_english_and_spares_proper_names():
    assert english_leftovers("… Convolution output: 3 × 3 …")[0] == "Convolution output"
    assert english_leftovers("Sobel x 卷积 ReLU CIFAR-10 R+G+B") == []
    assert "Input" in ENGLISH_FRAGMENTS and english_leftovers("InputLayer") == []  # whole words only


# --- The pages use the tables ---------------------------------------------------------------------

# Streamlit calls whose first argument (or `label`/`body`/...) is shown as text.
DISPLAY_CALLS = {
    "title", "header", "subheader", "markdown", "caption", "text", "write", "info", "warning", "error", "success",
    "toast", "button", "download_button", "link_button", "form_submit_button", "page_link", "selectbox", "radio",
    "multiselect", "select_slider", "slider", "number_input", "text_input", "text_area", "checkbox", "toggle",
    "file_uploader", "camera_input", "date_input", "time_input", "color_picker", "pills", "segmented_control",
    "expander", "popover", "tabs", "metric", "spinner", "status", "progress", "chat_input", "image", "set_page_config",
}
TEXT_KEYWORDS = {"label", "body", "help", "caption", "placeholder", "text", "title", "page_title"}
OPTION_CALLS = {"selectbox", "radio", "multiselect", "select_slider", "pills", "segmented_control"}
NO_POSITIONAL_TEXT = {"page_link", "image", "set_page_config", "progress"}  # their first argument is not text


def _literals(node: ast.AST) -> list[str]:
    """String constants that an expression shows as they are (text produced by calls like t() is fine)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):  # f-strings: the constant parts, and what their {fields} show
        return [text for part in node.values for text in
                (_literals(part.value) if isinstance(part, ast.FormattedValue) else _literals(part))]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [text for element in node.elts for text in _literals(element)]
    if isinstance(node, ast.BinOp):
        return _literals(node.left) + _literals(node.right)
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [text for value in node.values for text in _literals(value)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _literals(node.func.value)  # "Epoch {}".format(n) shows its template; t("key") shows none
    return []


def _has_words(text: str) -> bool:
    for name in PROPER_NAMES:
        text = text.replace(name, "")
    return bool(re.search(r"[A-Za-z]{2}", text) or CJK.search(text))


def _module_constants(tree: ast.Module) -> dict[str, ast.AST]:
    """Module-level NAME = <literal> assignments, so `st.radio(label, CHOICES)` is checked too."""
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def hard_coded_text(path: Path) -> list[str]:
    """'file:line: text' for each literal with words passed directly to a display call in one script."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _module_constants(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name not in DISPLAY_CALLS and not name.endswith("Column"):
            continue
        shown = [keyword.value for keyword in node.keywords if keyword.arg in TEXT_KEYWORDS]
        if node.args and name not in NO_POSITIONAL_TEXT:
            shown.append(node.args[0])
        keywords = {keyword.arg for keyword in node.keywords}
        if name in OPTION_CALLS and "format_func" not in keywords:  # options shown as they are
            options = node.args[1] if len(node.args) > 1 else \
                next((k.value for k in node.keywords if k.arg == "options"), None)
            if isinstance(options, ast.Name):
                options = constants.get(options.id)
            if options is not None:
                shown.append(options)
        for expression in shown:
            for text in _literals(expression):
                if _has_words(text):
                    found.append(f"{path.name}:{node.lineno}: {text!r}")
    return found


def test_the_scan_catches_hard_coded_text(tmp_path):
    sample = tmp_path / "page.py"
    sample.write_text(
        'import streamlit as st\nfrom app_pages.parts.language import t\nMODES = ["Fast", "Slow"]\n'
        'st.title("CNN Studio")\nst.header(t("home.title"))\nst.markdown(f"**{t(\'home.title\')}**: {3}")\n'
        'st.caption(f"Epoch {3}")\ncolumn = st\ncolumn.button("Stop", help=t("home.title"))\n'
        'st.radio(t("home.title"), MODES)\nst.radio(t("home.title"), ["a1", "b2"], format_func=t)\n'
        'st.metric(t("home.title"), "12 %", help="Hover text")\nst.image(x, caption="A cat")\n',
        encoding="utf-8")
    found = [line.split(": ", 1)[1] for line in hard_coded_text(sample)]
    assert sorted(found) == sorted(["'Epoch '", "'Stop'", "'Fast'", "'Slow'", "'Hover text'", "'A cat'"])


def test_pages_hold_no_hard_coded_text():
    """Fails until every page is converted (training and classify are converted by others)."""
    found = [line for path in PAGE_FILES for line in hard_coded_text(path)]
    assert found == [], "hard-coded text:\n" + "\n".join(found)


def _literal_keys(path: Path) -> list[tuple[int, str]]:
    """(line, key) for every t("key") / i18n.text(language, "key") with a literal key."""
    keys = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            position = {"t": 0, "text": 1}.get(function)
            if position is not None and len(node.args) > position:
                argument = node.args[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    keys.append((node.lineno, argument.value))
    return keys


def test_every_literal_key_in_the_code_exists():
    """No page renders a missing key (keys built with f-strings are covered by the page tests)."""
    files = PAGE_FILES + sorted((ROOT / "cnn_core").rglob("*.py"))
    missing = [f"{path.relative_to(ROOT)}:{line}: {key}" for path in files for line, key in _literal_keys(path)
               if "." in key and key not in EN]
    assert missing == []


# --- cnn_core's errors: every refusal has its words in both languages -----------------------------

ERROR_FILES = sorted((ROOT / "cnn_core").rglob("*.py")) + PAGE_FILES


def error_sections(paths: list[Path]) -> dict[str, str]:
    """Class name -> table section of every TranslatableError subclass defined in `paths`."""
    sections = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", getattr(base, "attr", "")) == "TranslatableError" for base in node.bases):
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and [t.id for t in statement.targets] == ["section"]:
                        sections[node.name] = statement.value.value
    return sections


def error_site_problems(path: Path, sections: dict[str, str]) -> tuple[int, list[str]]:
    """(sites checked, problems): each `raise XError("reason", name=...)` and `Message("key", {...})` in one file.

    The key must exist in both languages, and the names passed must be exactly the template's placeholders.
    A reason built with an f-string (f"document_{kind}") must match at least one key, and every key it matches
    is checked.
    """
    checked, problems = 0, []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            if name not in sections:
                continue
            first = call.args[0] if call.args else None
            if isinstance(first, ast.JoinedStr) and len(call.args) == 1:
                pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else r"\w+"
                                  for part in first.values)
                keys = [key for key in EN if re.fullmatch(re.escape(sections[name] + ".") + pattern, key)]
                if not keys:
                    problems.append(f"{path.name}:{node.lineno}: no key matches {name}'s reason")
            elif isinstance(first, ast.Constant) and isinstance(first.value, str) and len(call.args) == 1:
                keys = [f"{sections[name]}.{first.value}"]
            else:
                problems.append(f"{path.name}:{node.lineno}: {name} needs one literal reason")
                continue
            names = {keyword.arg for keyword in call.keywords}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Message":
            if not (node.args and isinstance(node.args[0], ast.Constant)):
                continue  # built keys are the page tests' business
            keys = [node.args[0].value]
            values = node.args[1] if len(node.args) > 1 else None
            names = {item.value for item in values.keys} if isinstance(values, ast.Dict) else set()
        else:
            continue
        checked += 1
        for key, (language, table) in ((key, pair) for key in keys for pair in (("en", EN), ("zh", ZH))):
            if key not in table:
                problems.append(f"{path.name}:{node.lineno}: no {language} text for {key}")
            elif i18n.placeholders(table[key]) != names:
                problems.append(f"{path.name}:{node.lineno}: {key} ({language}) wants "
                                f"{sorted(i18n.placeholders(table[key]))}, gets {sorted(names)}")
    return checked, problems


def test_every_error_raised_has_its_text_in_both_languages():
    sections = error_sections(ERROR_FILES)
    assert {"ConfigError", "DataError", "RegistryError", "TrainingError", "ModelImportError", "PreprocessError",
            "ExplainError", "RunNotFoundError", "BusyError", "OpsError", "ImageError"} <= set(sections)
    results = [error_site_problems(path, sections) for path in ERROR_FILES]
    problems = [problem for _, found in results for problem in found]
    assert problems == []
    assert sum(checked for checked, _ in results) > 130  # the scan really sees the raise sites


def test_the_error_scan_catches_missing_keys_wrong_names_and_plain_messages(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'class ConfigError(TranslatableError, ValueError):\n    section = "errors.config"\n'
        'raise ConfigError("no_blocks")\nraise ConfigError("no_such_reason")\n'
        'raise ConfigError("too_many_blocks", count=3)\nraise ConfigError(f"At most {n} blocks.")\n'
        'Message("errors.model_import.arrays_extra", {"count": 1})\nraise ConfigError(f"too_many_{what}", limit=1)\n'
        'raise ConfigError(f"nothing_{like}_this")\nraise ConfigError(message)\n', encoding="utf-8")
    checked, problems = error_site_problems(sample, error_sections([sample]))
    assert checked == 7 and sorted(problem.split(": ", 1)[1] for problem in problems) == sorted([
        "no en text for errors.config.no_such_reason", "no zh text for errors.config.no_such_reason",
        "errors.config.too_many_blocks (en) wants ['limit'], gets ['count']",
        "errors.config.too_many_blocks (zh) wants ['limit'], gets ['count']",
        "no key matches ConfigError's reason",  # an English f-string message, as before the tables
        "errors.model_import.arrays_extra (en) wants ['count', 'name'], gets ['count']",
        "errors.model_import.arrays_extra (zh) wants ['count', 'name'], gets ['count']",
        "errors.config.too_many_weights (en) wants ['limit', 'weights'], gets ['limit']",
        "errors.config.too_many_weights (zh) wants ['limit', 'weights'], gets ['limit']",
        "no key matches ConfigError's reason",
        "ConfigError needs one literal reason",
    ])


def _refusal(action) -> i18n.TranslatableError:
    with pytest.raises(i18n.TranslatableError) as caught:
        action()
    return caught.value


def _impossible_config():
    from cnn_core.training.config import TrainConfig

    TrainConfig(filters=[32, 64, 64, 64]).validate()  # 32 -> 15 -> 6 -> 2: no room for a 3x3 kernel


def _refused_import():
    from cnn_core.training.transfer import parse_import_config

    parse_import_config(b'{"config": {"filters": []}, "class_names": ["a", "b"]}')  # a ConfigError inside


def test_real_refusals_are_english_in_str_and_chinese_through_the_table(tmp_path):
    from cnn_core.datasets.loading import load_dataset

    (tmp_path / "empty").mkdir()
    cases = [
        (_impossible_config, "Block 4: a 3x3 kernel no longer fits", "第 4 个卷积块：3x3 的卷积核"),
        (lambda: load_dataset(tmp_path / "nowhere"), f"No dataset at {tmp_path / 'nowhere'}", "该路径不存在"),
        (lambda: load_dataset(tmp_path / "empty"), "No .png or .jpg images found in", "没有找到 .png 或 .jpg 图像"),
        (_refused_import, "The configuration was refused: Add at least one convolution block",
         "配置被拒绝：请至少添加一个卷积块"),
    ]
    for action, english, chinese in cases:
        error = _refusal(action)
        assert str(error).startswith(english) and not CJK.search(str(error))
        shown = i18n.text("zh", error.key, **error.values)
        assert chinese in shown and english_leftovers(shown) == [], shown
    path_error = _refusal(cases[1][0])
    assert str(tmp_path / "nowhere") in i18n.text("zh", path_error.key, **path_error.values)  # data stays as is


def test_errors_survive_pickling_and_nested_details_follow_the_language():
    import pickle

    from cnn_core.training.transfer import ModelImportError, _compare

    error = pickle.loads(pickle.dumps(_refusal(_refused_import)))  # as a training process would send it
    assert type(error) is ModelImportError and error.text("zh").startswith("配置被拒绝：请至少添加一个卷积块")
    mismatch = _refusal(lambda: _compare({"a": ((3,), "float32"), "b": ((2,), "float32")}, {"a": ((4,), "float32")}))
    assert "1 array(s) have the wrong shape or type, e.g. a: expected (3,) float32, got (4,) float32; " \
           "1 array(s) are missing, e.g. b." in str(mismatch)
    assert "1 个数组的形状或类型不对，例如 a：应为 (3,) float32，实际为 (4,) float32；缺少 1 个数组，例如 b。" \
        in mismatch.text("zh")


def test_a_message_saved_as_data_comes_back_and_junk_does_not():
    about = i18n.Message("datasets.first_images", {"limit": 1000, "source": i18n.Message(
        "datasets.folders", {"classes": 3, "location": "/photos", "train": 12, "test": 3})})
    record = json.loads(json.dumps(i18n.message_record(about)))  # as metadata.json keeps it
    assert i18n.message_from_record(record) == about
    assert i18n.message_from_record(record).text("zh") == "3 个类别文件夹，位于 /photos（训练 12 张 / 测试 3 张），每个划分只取前 1,000 张"
    nested = {"key": "datasets.imported", "values": {"description": "x"}}
    for _ in range(10):
        nested = {"key": "datasets.imported", "values": {"description": nested}}
    for junk in (None, "datasets.official", [], {"key": 3}, {"key": "no.such.key"}, {"key": "home.title", "values": []},
                 {"key": "datasets.official", "values": {"train": [1]}}, {"key": "datasets.official", "values": {"train": True}},
                 nested):
        assert i18n.message_from_record(junk) is None, junk

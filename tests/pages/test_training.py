"""The training page through streamlit.testing.v1.AppTest (router.py, then the page), in English and Chinese.

No training happens here: the runs are status.json + events.jsonl files in the shape that
cnn_core.training writes, so the charts, the runs list and the results can be checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.datasets.cifar import CIFAR10_CLASSES
from cnn_core.training.config import PRESETS, TrainConfig

from helpers.pages import fake_submit, table_with
from helpers.paths import APP
from helpers.text import CJK, english_leftovers, shown

PAGE = "app_pages/training.py"
TIMEOUT = 60  # the first run imports TensorFlow and builds a model


def write_run(runs_dir: Path, run_id: str, state: str, *, data: str | None = None, epochs: int = 2,
              predictions: list[int] | None = None, labels: list[int] | None = None) -> None:
    """A run folder as cnn_core.training leaves it: config, request, status and events."""
    folder = runs_dir / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(TrainConfig(epochs=epochs).to_json())
    request = {"data": data, "model_name": f"model-{run_id}", "resume_from": None}
    (folder / "request.json").write_text(json.dumps(request))
    ended = state not in ("starting", "running")
    created = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}"  # from the id
    (folder / "status.json").write_text(json.dumps({
        "run_id": run_id, "state": state, "pid": 999_999_999 if ended else __import__("os").getpid(),
        "created": created, "started": created, "ended": created if ended else None,
        "error": "Out of memory" if state == "failed" else None, "model_name": f"model-{run_id}", "epochs": epochs,
        "data_source": "CIFAR-10 subset", "test_accuracy": 0.5 if state == "finished" else None,
    }))
    events = [{"type": "start", "epochs": epochs, "steps_per_epoch": 10, "train_images": 1000, "test_images": 100,
               "class_names": CIFAR10_CLASSES}]
    for epoch in range(1, epochs + 1):
        for step in (5, 10):
            events.append({"type": "batch", "epoch": epoch, "step": step, "loss": 2.0 / (epoch + step / 10),
                           "accuracy": 0.1 * epoch, "images_per_second": 900.0, "elapsed": 10.0 * epoch})
        events.append({"type": "epoch", "epoch": epoch, "loss": 2.0 / epoch, "accuracy": 0.2 * epoch,
                       "val_loss": 2.1 / epoch,
                       "val_accuracy": 0.19 * epoch, "learning_rate": 1e-3, "images_per_second": 900.0,
                       "elapsed": 10.0 * epoch, "eta": 10.0 * (epochs - epoch)})
    if state == "finished":
        labels = np.asarray(labels if labels is not None else [index % 10 for index in range(100)])
        predictions = np.asarray(predictions if predictions is not None else labels)
        matrix = np.zeros((10, 10), dtype=int)
        np.add.at(matrix, (labels, predictions), 1)
        per_class = matrix.diagonal() / matrix.sum(axis=1).clip(1)
        events.append({"type": "finish", "test_accuracy": float(np.mean(labels == predictions)),
                       "per_class_accuracy": dict(zip(CIFAR10_CLASSES, per_class.tolist())),
                       "confusion_matrix": matrix.tolist(), "seconds": 60.0})
        np.savez(folder / "predictions.npz", labels=labels, predictions=predictions)
    elif state == "stopped":
        events.append({"type": "stopped"})
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))


GROUPS = ("arch", "aug", "optim", "fit")  # the settings' lazy expanders (training_setup.GROUPS)


def run_page(query_params: dict | None = None, language: str = "en", open_groups: bool = True) -> AppTest:
    """The app opened on its home page with `?lang=` (and a shared link's settings), then the training page, every
    group of settings opened (as a visitor's clicks would; closed, a group draws nothing)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = language
    at.query_params.update(query_params or {})
    for group in GROUPS if open_groups else ():
        at.session_state[f"group_{group}_open"] = True
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def shown_text(at: AppTest) -> str:
    """What the page says in words: headings, Markdown, captions, messages, widget and metric labels."""
    parts = [item.value for kind in (at.title, at.subheader, at.markdown, at.caption, at.info, at.warning,
                                     at.error, at.success) for item in kind]
    for kind in ("text_input", "number_input", "selectbox", "checkbox", "slider", "radio", "button", "metric",
                 "expander", "tab"):
        parts += [element.label for element in at.get(kind) if hasattr(element, "label")]
    parts += [option for box in at.selectbox for option in box.options]
    return "\n".join(parts)


def layer_names(at: AppTest) -> list[str]:
    return list(table_with(at, "flops")["layer"])


def test_page_shows_seed_model_and_its_summary(app_dirs):
    at = run_page()
    assert not at.exception
    # The seed tutorial's network: conv 32 -> pool -> conv 64 -> pool -> flatten -> softmax.
    assert layer_names(at) == [
        "rescaling", "block1_conv1", "block1_pool", "block2_conv1", "block2_pool", "flatten", "predictions",
    ]
    params = 3 * 3 * 3 * 32 + 32 + 3 * 3 * 32 * 64 + 64 + 6 * 6 * 64 * 10 + 10
    assert at.metric[0].value == f"{params:,}"
    assert at.query_params == {"lang": "en"}  # the defaults need no URL parameters


def test_changing_preset_changes_summary_table_and_url(app_dirs):
    at = run_page()
    at.selectbox(key="preset").set_value("quick").run()
    assert not at.exception
    names = layer_names(at)
    assert "block3_conv1" in names and "block1_bn1" in names and "global_pool" in names
    assert TrainConfig.from_query_params(at.query_params) == PRESETS["quick"]
    assert at.text_input(key="cfg_filters").value == "32, 64, 128"


def test_impossible_config_shows_error_and_disables_train(app_dirs):
    at = run_page()
    assert at.button(key="train").disabled is False
    at.text_input(key="cfg_filters").set_value("32, 64, 64, 64").run()  # 32 -> 15 -> 6 -> 2 -> no room for a 3x3
    assert any("kernel no longer fits" in error.value for error in at.error)
    assert at.button(key="train").disabled is True
    at.text_input(key="cfg_filters").set_value("32, x").run()
    assert any("whole numbers" in error.value for error in at.error)
    assert at.button(key="train").disabled is True


def test_query_params_round_trip(app_dirs):
    at = run_page({"filters": "[8]", "epochs": "1", "batch_size": "128", "flip": "True"})
    assert not at.exception
    assert at.text_input(key="cfg_filters").value == "8"
    assert at.number_input(key="cfg_epochs").value == 1
    assert at.checkbox(key="cfg_flip").value is True
    assert layer_names(at)[:3] == ["rescaling", "random_flip", "block1_conv1"]
    at.number_input(key="cfg_epochs").set_value(3).run()
    expected = TrainConfig(filters=[8], epochs=3, batch_size=128, flip=True)
    assert TrainConfig.from_query_params(at.query_params) == expected


def test_broken_link_falls_back_to_seed_with_a_message(app_dirs):
    at = run_page({"filters": "[8"})
    assert any("link's settings were not used" in warning.value for warning in at.warning)
    assert at.text_input(key="cfg_filters").value == "32, 64"
    assert at.query_params == {"lang": "en"}


def test_uploaded_json_config_is_applied_and_bad_json_explained(app_dirs):
    at = run_page()
    config = TrainConfig(filters=[16, 16], optimizer="sgd", epochs=4)
    at.file_uploader(key="config_upload").set_value(("setup.json", config.to_json().encode(), "application/json")).run()
    assert at.selectbox(key="cfg_optimizer").value == "sgd"
    assert TrainConfig.from_query_params(at.query_params) == config
    at.file_uploader(key="config_upload").set_value(("bad.json", b'{"filterz": [1]}', "application/json")).run()
    assert any("Unknown setting(s): filterz" in error.value for error in at.error)


def test_augmentation_toggles_offer_the_seed_values(app_dirs):
    at = run_page()
    at.checkbox(key="cfg_rotation_on").check().run()
    assert at.number_input(key="cfg_rotation_degrees").value == 15.0
    at.checkbox(key="cfg_shift_on").check().run()
    assert at.number_input(key="cfg_shift_fraction").value == 0.1
    assert TrainConfig.from_query_params(at.query_params) == TrainConfig(rotation_degrees=15.0, shift_fraction=0.1)


def test_runs_list_shows_finished_and_interrupted_runs_with_charts(app_dirs):
    write_run(app_dirs["runs"], "20260101-100000-aaaaaa", "interrupted")
    write_run(app_dirs["runs"], "20260101-103000-eeeeee", "failed")
    write_run(app_dirs["runs"], "20260101-110000-bbbbbb", "finished", epochs=3)
    at = run_page()
    assert not at.exception
    states = [state.split()[-1] for state in table_with(at, "state")["state"]]
    assert states == ["finished", "failed", "interrupted"]
    assert at.selectbox(key="open_run").value == "20260101-110000-bbbbbb"  # newest first
    chart = at.get("plotly_chart")
    figures = [json.loads(element.proto.spec) for element in chart]
    epoch_figure = next(f for f in figures if f["layout"].get("annotations", [{}])[0].get("text") == "Loss per epoch")
    assert epoch_figure["data"][0]["x"] == [1, 2, 3]
    assert epoch_figure["data"][0]["y"] == pytest.approx([2.0, 1.0, 2 / 3])
    at.selectbox(key="open_run").set_value("20260101-103000-eeeeee").run()
    assert [error.value for error in at.error] == ["Training failed: Out of memory"]


def test_progressive_resizing_on_a_flatten_head_is_explained_and_disables_train(app_dirs):
    at = run_page()  # the seed's model: a flatten head, which takes one image size only
    at.checkbox(key="cfg_progressive_resizing").check().run()
    assert any("head must be global average pooling" in error.value for error in at.error)
    assert at.button(key="train").disabled is True
    at.selectbox(key="cfg_head").set_value("global_avg").run()
    assert not at.error and at.button(key="train").disabled is False


def test_progressive_mixup_and_widened_runs_charts_say_why_they_differ(app_dirs):
    write_run(app_dirs["runs"], "20260101-110000-bbbbbb", "finished", epochs=3)
    at = run_page()
    assert not any(caption.value.startswith(("Progressive resizing", "Mixup", "A long run")) for caption in at.caption)
    events = app_dirs["runs"] / "20260101-110000-bbbbbb" / "events.jsonl"
    lines = events.read_text().splitlines()
    start = json.loads(lines[0])
    assert start["type"] == "start"
    long_run = {"progressive_resizing": True, "mixup_alpha": 0.2, "filters": [64, 128, 256],
                "widened_from": [48, 96, 192], "weight_decay": 0.1}
    events.write_text("\n".join([json.dumps({**start, **long_run}), *lines[1:]]) + "\n")
    at = run_page()
    assert any(caption.value.startswith("Progressive resizing: the first third") for caption in at.caption)
    assert any(caption.value.startswith("Mixup: the training loss") for caption in at.caption)
    assert any(caption.value.startswith("A long run") and "64-128-256 filters instead of 48-96-192, with weight decay "
               "0.1" in caption.value for caption in at.caption)


def test_confusion_cell_shows_exactly_the_images_behind_it(app_dirs, cifar_subset):
    from cnn_core.datasets.loading import load_dataset

    labels = load_dataset(cifar_subset).y_test
    predictions = np.where(np.arange(len(labels)) % 3 == 0, (labels + 1) % 10, labels)  # every third one wrong
    write_run(app_dirs["runs"], "20260101-110000-cccccc", "finished", data=str(cifar_subset), labels=labels,
              predictions=predictions)
    at = run_page()
    key = "runs_20260101-110000-cccccc"
    at.selectbox(key=f"true_{key}").set_value("cat")
    at.selectbox(key=f"predicted_{key}").set_value("deer").run()
    expected = int(np.sum((labels == 3) & (predictions == 4)))  # cat -> deer
    assert expected > 0
    text = f"{expected} test images of class cat predicted as deer"
    assert any(caption.value.startswith(text) for caption in at.caption)
    cell_images, mistakes = at.get("image")
    assert len(cell_images.value) == expected
    assert len(mistakes.value) == min(40, int(np.sum(labels != predictions)))
    assert mistakes.captions[0] == f"{CIFAR10_CLASSES[labels[0]]} → {CIFAR10_CLASSES[predictions[0]]}"


def test_running_run_shows_live_progress_and_stops(app_dirs):
    write_run(app_dirs["runs"], "20260101-120000-dddddd", "running", epochs=4)  # its "process" is this test
    at = run_page()
    assert not at.exception
    assert at.button(key="train").disabled is False  # Train always accepts: the run would join the queue
    assert "epoch 4 of 4" in at.get("progress")[0].proto.text
    assert [metric.value for metric in at.metric][-3:] == ["900", "40 s", "0 s"]
    at.button(key="stop_current").click().run()
    assert (app_dirs["runs"] / "20260101-120000-dddddd" / "STOP").exists()


def test_train_button_starts_a_background_run_with_the_page_settings(app_dirs, cifar_subset, monkeypatch):
    from cnn_core.server import queue

    calls = []
    monkeypatch.setattr(queue, "submit", fake_submit(calls, "20260101-130000-eeeeee"))
    at = run_page({"filters": "[8]", "epochs": "1"})
    at.text_input(key="data_path").set_value(str(cifar_subset))
    at.text_input(key="model_name").set_value("My First CNN").run()
    assert any("my-first-cnn" in caption.value for caption in at.caption)
    at.button(key="train").click().run()
    assert calls == [((TrainConfig(filters=[8], epochs=1), str(cifar_subset), "my-first-cnn"), {"resume_from": None})]
    assert any("Queued run 20260101-130000-eeeeee" in success.value for success in at.success)


def test_uploaded_class_folder_zip_is_stored_and_sets_the_class_count(app_dirs):
    import io
    import zipfile

    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for class_name, color in (("cats", (200, 0, 0)), ("dogs", (0, 0, 200))):
            for index in range(5):
                image = io.BytesIO()
                Image.new("RGB", (40, 30), color).save(image, format="PNG")
                archive.writestr(f"pets/{class_name}/{index}.png", image.getvalue())
    at = run_page()
    at.radio(key="data_kind").set_value("upload").run()
    assert at.button(key="train").disabled is True  # nothing uploaded yet
    at.file_uploader(key="data_upload").set_value(("pets.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception, [item.value for item in at.error]
    stored = list((app_dirs["data"] / "uploads").glob("*-pets.zip"))
    assert len(stored) == 1 and stored[0].read_bytes() == buffer.getvalue()
    table = table_with(at, "flops")
    assert table["output_shape"].iloc[-1] == "2"  # two classes in the zip -> two softmax outputs


def test_missing_data_folder_is_explained_and_blocks_training(app_dirs, tmp_path):
    at = run_page()
    at.text_input(key="data_path").set_value(str(tmp_path / "nowhere")).run()
    assert any("does not exist" in error.value for error in at.error)
    assert at.button(key="train").disabled is True
    assert layer_names(at)[-1] == "predictions"  # the model summary still shows (for 10 classes)


def test_download_choice_explains_its_size_and_a_running_download_shows_progress(app_dirs):
    at = run_page()
    at.radio(key="data_kind").set_value("download").run()
    assert any("163 MB" in caption.value for caption in at.caption)
    assert at.button(key="train").disabled is False

    write_run(app_dirs["runs"], "20260101-150000-abcdef", "running")
    loading = {"type": "loading", "data": "cifar10", "bytes_done": 41_000_000, "bytes_total": 170_498_071}
    (app_dirs["runs"] / "20260101-150000-abcdef" / "events.jsonl").write_text(json.dumps(loading) + "\n")
    at = run_page()
    bars = [bar.proto for bar in at.get("progress")]
    assert bars[0].text == "Downloading CIFAR-10: 41 of 170 MB"
    assert bars[0].value == int(100 * 41_000_000 / 170_498_071)


# --- Chinese, and the lessons beside the settings. ---


def latex(at: AppTest) -> str:
    return "\n".join(item.value for item in at.latex)


def test_page_in_chinese_has_chinese_labels_lessons_and_no_english_ui_text(app_dirs):
    at = run_page(language="zh")
    assert at.title[0].value == "训练 CNN"
    assert at.text_input(key="cfg_filters").label == "每个卷积块的卷积核数量"
    assert at.selectbox(key="cfg_optimizer").options == ["Adam", "AdamW", "带动量的 SGD"]
    assert at.selectbox(key="cfg_schedule").options == ["恒定", "余弦衰减", "单周期（one-cycle）", "线性衰减"]
    text = shown_text(at)
    assert "为什么全连接层放在最后？" in text and "如何选择卷积核大小和卷积核数量？" in text and "数据增强有什么用？" in text
    assert len(CJK.findall(text)) > 1000
    assert english_leftovers(text) == []
    # The seed model's output layer, y = Wx + b with its real sizes: 6*6*64 = 2304 inputs, 10 classes.
    assert r"W &\in \mathbb{R}^{10 \times 2304}" in latex(at)
    assert r"2{,}304 \cdot 10 + 10 = 23{,}050" in latex(at)


def test_lessons_follow_the_settings(app_dirs, cifar_subset):
    at = run_page()
    at.text_input(key="data_path").set_value(str(cifar_subset)).run()
    formulas = latex(at)
    assert r"\varepsilon = 0,\ K = 10:\quad y_c = 1,\quad y_{k \ne c} = 0" in formulas
    assert r"\eta_t = \eta_{\max} = 0.001" in formulas and r"\beta_1 &= 0.9" in formulas  # the seed's Adam 1e-3
    at.slider(key="cfg_label_smoothing").set_value(0.2).run()
    at.selectbox(key="cfg_optimizer").set_value("sgd").run()
    at.text_input(key="cfg_dense_units").set_value("128").run()
    at.selectbox(key="cfg_schedule").set_value("cosine")
    at.slider(key="cfg_warmup_fraction").set_value(0.1).run()
    formulas = latex(at)
    assert r"y_c = 0.82,\quad y_{k \ne c} = 0.02" in formulas  # (1 - 0.2) + 0.2/10 and 0.2/10
    assert r"\mu &= 0.9" in formulas and r"\hat m_t" not in formulas
    assert r"W &\in \mathbb{R}^{128 \times 2304}" in formulas and r"2{,}304 \cdot 128 + 128 = 295{,}040" in formulas
    # 5,085 subset images in batches of 64: 80 steps per epoch, 10 epochs, 10 % warm-up.
    assert r"w = 80,\quad T = 800" in formulas
    captions = " ".join(caption.value for caption in at.caption)
    assert "ln K = 2.303" in captions and "cannot go below 0.867" in captions
    # The first convolution's weights: 3 colour channels in, or the 24 channels of a 2x2 whitening layer.
    assert r"3 \cdot 3 \cdot 3 \cdot 32 + 32 = 896" in formulas
    at.selectbox(key="cfg_whitening_patch").set_value(2).run()
    assert r"3 \cdot 3 \cdot 24 \cdot 32 + 32 = 6{,}944" in latex(at)


def test_augmentation_lesson_shows_the_transforms_and_the_preview(app_dirs, cifar_subset):
    at = run_page({"flip": "True", "shift_fraction": "0.1"})
    at.text_input(key="data_path").set_value(str(cifar_subset)).run()
    formulas = latex(at)
    assert r"x'_{i,j} = x_{i,\,31 - j}" in formulas and "U(-3.2,\\ 3.2)" in formulas
    rows = [image for image in at.image if len(image.value) == 8]
    assert len(rows) == 3  # the samples, then two random draws
    assert rows[1].value != rows[2].value and rows[0].value != rows[1].value  # two different random draws


def test_mixup_setting_and_its_lesson(app_dirs):
    at = run_page()
    assert r"\mathrm{Beta}" not in latex(at)
    at.number_input(key="cfg_mixup_alpha").set_value(0.4).run()
    assert TrainConfig.from_query_params(at.query_params) == TrainConfig(mixup_alpha=0.4)
    assert r"\lambda &\sim \mathrm{Beta}(0.4,\ 0.4)" in latex(at)
    assert any("Mixup: two training images" in caption.value for caption in at.caption)


def test_switching_the_language_keeps_the_settings(app_dirs):
    at = run_page({"filters": "[8, 16]"}, language="zh")
    at.number_input(key="cfg_epochs").set_value(3).run()
    at.selectbox(key="cfg_optimizer").set_value("sgd")
    at.selectbox(key="cfg_schedule").set_value("cosine").run()
    at.radio(key="data_kind").set_value("download").run()
    at.selectbox(key="language").set_value("en").run()
    assert not at.exception and at.title[0].value == "Train a CNN"
    assert at.text_input(key="cfg_filters").value == "8, 16" and at.number_input(key="cfg_epochs").value == 3
    # Choices are sent back as their shown (translated) text: they must survive the change of words.
    assert at.selectbox(key="cfg_optimizer").value == "sgd" and at.selectbox(key="cfg_schedule").value == "cosine"
    assert at.radio(key="data_kind").value == "download"
    assert at.selectbox(key="cfg_optimizer").options == ["Adam", "AdamW", "SGD with momentum"]
    assert at.query_params["lang"] == "en" and at.query_params["optimizer"] == "sgd"


def test_refusals_are_shown_in_chinese_and_follow_a_language_switch(app_dirs, tmp_path):
    at = run_page(language="zh")
    at.text_input(key="cfg_filters").set_value("32, 64, 64, 64").run()  # 32 -> 15 -> 6 -> 2: no room for a 3x3
    at.radio(key="data_kind").set_value("path").run()
    at.text_input(key="data_path").set_value(str(tmp_path / "nowhere")).run()
    errors = "\n".join(shown(error.value) for error in at.error)
    assert "第 4 个卷积块：3x3 的卷积核已经放不下了（特征图会变成 0x0）" in errors
    assert f"{tmp_path / 'nowhere'} 处没有数据集：该路径不存在。" in errors  # the path itself stays as it is
    assert english_leftovers(errors) == [] and at.button(key="train").disabled is True
    at.file_uploader(key="config_upload").set_value(("bad.json", b'{"filterz": [1]}', "application/json")).run()
    assert any(error.value == "未知的设置：filterz。" for error in at.error)
    at.selectbox(key="language").set_value("en").run()  # a kept message speaks the new language
    errors = [error.value for error in at.error]
    assert "Unknown setting(s): filterz." in errors and any("kernel no longer fits" in error for error in errors)


def test_a_failed_run_says_why_in_the_readers_language(app_dirs):
    write_run(app_dirs["runs"], "20260101-103000-eeeeee", "failed")
    status_file = app_dirs["runs"] / "20260101-103000-eeeeee" / "status.json"
    status = json.loads(status_file.read_text())
    status.update(error="The model 'm' could not be written to disk (No space left on device). ...",
                  error_key="errors.registry.not_written", error_values={"name": "m", "reason": "No space left on device"})
    status_file.write_text(json.dumps(status))
    at = run_page(language="zh")
    assert [error.value for error in at.error] == [
        "训练失败：模型 'm' 无法写入磁盘（No space left on device）。它之前的版本（如果有）没有改变；请释放一些磁盘空间后再保存。"]


def test_runs_and_results_in_chinese(app_dirs, cifar_subset):
    from cnn_core.datasets.loading import load_dataset

    labels = load_dataset(cifar_subset).y_test
    predictions = np.where(np.arange(len(labels)) % 3 == 0, (labels + 1) % 10, labels)
    write_run(app_dirs["runs"], "20260101-100000-aaaaaa", "interrupted")
    write_run(app_dirs["runs"], "20260101-110000-cccccc", "finished", data=str(cifar_subset), labels=labels,
              predictions=predictions)
    at = run_page(language="zh")
    assert list(table_with(at, "state")["state"]) == ["✅ 已完成", "⚠️ 已中断"]
    key = "runs_20260101-110000-cccccc"
    at.selectbox(key=f"true_{key}").set_value("cat")
    at.selectbox(key=f"predicted_{key}").set_value("deer").run()
    expected = int(np.sum((labels == 3) & (predictions == 4)))
    assert any(caption.value == f"{expected} 张类别为「猫」却被预测为「鹿」的测试图像" for caption in at.caption)
    mistakes = at.get("image")[-1]
    chinese = ["飞机", "汽车", "鸟", "猫", "鹿", "狗", "青蛙", "马", "船", "卡车"]
    assert mistakes.captions[0] == f"{chinese[labels[0]]} → {chinese[predictions[0]]}"
    figures = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    confusion = next(f for f in figures if f["layout"].get("title", {}).get("text") == "混淆矩阵")
    assert confusion["data"][0]["x"] == chinese
    assert english_leftovers(shown_text(at)) == []
    # The interrupted run says why in Chinese, not in the training process' English.
    at.selectbox(key="open_run").set_value("20260101-100000-aaaaaa").run()
    assert [warning.value for warning in at.warning][-1].startswith("这次训练的进程意外结束了")


def test_live_view_in_chinese_follows_a_replanned_run_and_stops(app_dirs):
    write_run(app_dirs["runs"], "20260101-120000-dddddd", "running", epochs=4)
    with (app_dirs["runs"] / "20260101-120000-dddddd" / "events.jsonl").open("a") as events:
        events.write(json.dumps({"type": "replan", "epochs": 6, "elapsed": 40.5}) + "\n")
    at = run_page(language="zh")
    assert not at.warning  # a run without a time budget never warns about one
    assert "第 4 轮，共 6 轮" in at.get("progress")[0].proto.text
    assert at.get("progress")[0].proto.value == int(100 * 4 / 6)
    assert [metric.value for metric in at.metric][-3:] == ["900", "40 秒", "0 秒"]
    at.button(key="stop_current").click().run()
    assert (app_dirs["runs"] / "20260101-120000-dddddd" / "STOP").exists()
    assert at.button(key="stop_current").disabled is True
    assert any(info.value.startswith("将在当前批次结束后停止") for info in at.info)


def test_a_budgeted_run_that_cannot_fit_one_epoch_says_so_in_the_live_view(app_dirs):
    write_run(app_dirs["runs"], "20260101-120000-dddddd", "running", epochs=1)
    events_file = app_dirs["runs"] / "20260101-120000-dddddd" / "events.jsonl"
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    events[0].update(time_budget_seconds=20.0, expected_seconds=34.4)
    events_file.write_text("".join(json.dumps(event) + "\n" for event in events))
    assert [warning.value for warning in run_page(language="zh").warning] == [
        "在这台机器上，20 秒的时间预算连一轮都放不下：这次训练大约需要 34 秒。换更小的网络、更少的图像或更大的预算即可放下。"]
    events[0].update(expected_seconds=20.9)  # within 10 %: no warning
    events_file.write_text("".join(json.dumps(event) + "\n" for event in events))
    assert not run_page().warning


def test_an_interrupted_run_continues_from_its_checkpoint(app_dirs, cifar_subset, monkeypatch):
    from cnn_core.server import queue

    folder = app_dirs["runs"] / "20260101-100000-aaaaaa"
    write_run(app_dirs["runs"], folder.name, "interrupted", data=str(cifar_subset), epochs=5)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    kept = [event for event in events if event.get("epoch", 0) <= 2]  # it died during epoch 3 of 5
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in kept))
    # A checkpoint after epoch 2 of a plan that ends with epoch 5: three epochs are left.
    (folder / "checkpoint-0002.weights.h5").write_bytes(b"weights")
    (folder / "checkpoint.json").write_text(json.dumps({"weights": "checkpoint-0002.weights.h5", "epoch": 2,
                                                        "last_epoch": 5, "schedule_start_epoch": 0,
                                                        "steps_per_epoch": 80}))
    calls = []
    monkeypatch.setattr(queue, "submit", fake_submit(calls, "20260101-130000-eeeeee"))
    at = run_page()
    at.button(key=f"resume_runs_{folder.name}").click().run()
    assert calls == [((TrainConfig(epochs=3), str(cifar_subset), f"model-{folder.name}"),
                      {"resume_from": folder.name})]
    assert any("Queued run 20260101-130000-eeeeee" in success.value for success in at.success)
    # Once the server has requeued it after a restart, its copy resumes it: no second Resume to train it twice.
    status = json.loads((folder / "status.json").read_text())
    (folder / "status.json").write_text(json.dumps({**status, "requeued_as": "20260101-130000-eeeeee"}))
    assert not [button for button in run_page().button if button.key == f"resume_runs_{folder.name}"]


def test_a_run_is_deleted_after_a_second_click_and_its_model_stays(app_dirs):
    write_run(app_dirs["runs"], "20260101-100000-aaaaaa", "interrupted")
    write_run(app_dirs["runs"], "20260101-110000-bbbbbb", "finished", epochs=3)
    (app_dirs["models"] / "kept").mkdir()
    at = run_page()
    key = "runs_20260101-110000-bbbbbb"
    at.button(key=f"delete_{key}").click().run()
    assert (app_dirs["runs"] / "20260101-110000-bbbbbb").is_dir()  # one click only asks
    assert any("Delete run `20260101-110000-bbbbbb`" in warning.value for warning in at.warning)
    at.button(key=f"delete_no_{key}").click().run()
    assert (app_dirs["runs"] / "20260101-110000-bbbbbb").is_dir()
    at.button(key=f"delete_{key}").click().run()
    at.button(key=f"delete_yes_{key}").click().run()
    assert not (app_dirs["runs"] / "20260101-110000-bbbbbb").exists() and (app_dirs["models"] / "kept").is_dir()
    assert [state.split()[-1] for state in table_with(at, "state")["state"]] == ["interrupted"]
    assert not at.exception


def test_compare_tab_overlays_two_runs_and_shows_where_their_answers_part(app_dirs, cifar_subset):
    from cnn_core.datasets.loading import load_dataset

    labels = load_dataset(cifar_subset).y_test
    wrong_first = np.where(np.arange(len(labels)) % 4 == 0, (labels + 1) % 10, labels)
    wrong_second = np.where(np.arange(len(labels)) % 5 == 0, (labels + 1) % 10, labels)
    write_run(app_dirs["runs"], "20260101-110000-aaaaaa", "finished", data=str(cifar_subset), labels=labels,
              predictions=wrong_first)
    write_run(app_dirs["runs"], "20260101-120000-bbbbbb", "finished", data=str(cifar_subset), labels=labels,
              predictions=wrong_second, epochs=3)
    at = run_page()
    assert at.multiselect(key="compare_runs").value == ["20260101-120000-bbbbbb", "20260101-110000-aaaaaa"]
    spec = next(json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
                if json.loads(chart.proto.spec)["data"][0].get("name") == "20260101-120000-bbbbbb")
    assert len(spec["data"]) == 8  # two runs x (validation, training) x two panels
    settings = table_with(at, "20260101-110000-aaaaaa")
    assert "Epochs" in list(settings[""])  # the one setting that differs
    per_class = table_with(at, "class")
    assert list(per_class["class"]) == list(CIFAR10_CLASSES)
    index = np.arange(len(labels))
    b_only = int(np.sum((index % 5 != 0) & (index % 4 == 0)))  # run b (newest, shown first) right, run a wrong
    a_only = int(np.sum((index % 4 != 0) & (index % 5 == 0)))
    shown = [text.value for text in at.markdown if "test images that" in text.value]
    assert shown == [f"**{b_only}** test images that `20260101-120000-bbbbbb` gets right and "
                     "`20260101-110000-aaaaaa` gets wrong:",
                     f"**{a_only}** test images that `20260101-110000-aaaaaa` gets right and "
                     "`20260101-120000-bbbbbb` gets wrong:"]
    assert not at.exception


def test_two_visitors_upload_the_same_zip_and_both_see_it(app_dirs, monkeypatch, tmp_path):
    """One zip handed out to a class: the second visitor's page gets the summary the first one made (the page
    once crashed here replaying a cached progress bar into another visitor's page)."""
    from cnn_core.datasets import loading, summary

    from helpers.class_folders import class_files, write_zip

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    summary.forget_all()
    decoded = []
    real = loading.load_dataset
    monkeypatch.setattr(loading, "load_dataset", lambda spec, **options: decoded.append(spec) or real(spec, **options))
    content = write_zip(tmp_path / "class.zip", class_files({"cats": (200, 0, 0), "dogs": (0, 200, 0)}, 6)).read_bytes()
    for _ in range(2):  # two visitors, one after the other, each with their own session
        at = run_page()
        at.radio(key="data_kind").set_value("upload").run()
        at.file_uploader(key="data_upload").set_value(("class.zip", content, "application/zip")).run()
        assert not at.exception, [item.value for item in at.exception]
        assert any("2 classes" in caption.value for caption in at.caption), [c.value for c in at.caption]
        at.number_input(key="cfg_epochs").set_value(3).run()  # a rerun of the whole page: still fine
        assert not at.exception and not at.error
    assert len([spec for spec in decoded if str(spec).endswith("-class.zip")]) == 1  # decoded once for both


def test_closed_groups_draw_nothing_and_keep_their_settings(app_dirs):
    """A closed group of settings costs the page nothing (its widgets and lesson are not drawn), and its values hold."""
    at = run_page({"epochs": "7"}, open_groups=False)
    assert at.text_input(key="cfg_filters").value == "32, 64"  # "Architecture" opens by default
    assert not [box for box in at.number_input if box.key == "cfg_epochs"]  # "Training" is closed: not drawn
    assert TrainConfig.from_query_params(at.query_params).epochs == 7  # yet its value is part of the config
    at.session_state["group_fit_open"] = True  # the visitor opens it
    at.run()
    assert at.number_input(key="cfg_epochs").value == 7

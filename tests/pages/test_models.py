"""The saved-models page through AppTest: compare, delete with a confirmation, continue training; both languages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from cnn_core.datasets.cifar import CIFAR10_CLASSES
from cnn_core.training.config import TrainConfig

from helpers.pages import fake_submit, table_with
from helpers.paths import APP
from helpers.text import english_leftovers


def write_model(models_dir: Path, name: str, config: TrainConfig, accuracy: float, **extra) -> None:
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not a real model")
    (folder / "metadata.json").write_text(json.dumps({
        "name": name, "config": config.to_dict(), "class_names": CIFAR10_CLASSES, "dataset": "CIFAR-10 subset",
        "test_accuracy": accuracy, "created": f"2026-01-0{len(name) % 9 + 1}T10:00:00", "training_seconds": 12.0,
        "train_images": 5085, **extra,
    }))


def open_models(language: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = language
    at.run()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def test_compare_delete_with_confirmation_and_continue_training(app_dirs, monkeypatch):
    from cnn_core.datasets.base import default_location
    from cnn_core.server import queue

    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    write_model(app_dirs["models"], "bigger", TrainConfig(filters=[32, 64], flip=True), 0.58)
    calls = []
    monkeypatch.setattr(queue, "submit", fake_submit(calls, "20260101-140000-ffffff"))
    at = open_models()
    assert at.title[0].value == "Saved models"
    assert set(table_with(at, "test_accuracy")["name"]) == {"small", "bigger"}
    at.multiselect(key="compare_models").set_value(["small", "bigger"]).run()
    compared = table_with(at, "small")
    assert list(compared[""]) == ["test accuracy", "training seconds", "Filters per block", "Horizontal flip"]

    at.selectbox(key="registry_model").set_value("small").run()
    at.button(key="delete_model").click().run()
    assert (app_dirs["models"] / "small").exists()  # not before the confirmation
    at.button(key="confirm_delete_no").click().run()
    assert (app_dirs["models"] / "small").exists()
    at.button(key="delete_model").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert not (app_dirs["models"] / "small").exists()
    assert list(table_with(at, "test_accuracy")["name"]) == ["bigger"]
    assert not any("small" in warning.value for warning in at.warning)  # deleted here: no "gone" warning

    at.number_input(key="more_epochs").set_value(3).run()
    at.button(key="continue_training_bigger").click().run()
    (config, data, name), options = calls[0]
    assert config == TrainConfig(filters=[32, 64], flip=True, epochs=3)
    location = default_location()  # nothing chosen on the training page in this session: its default
    assert data == (str(location) if location else None)
    assert (name, options) == ("bigger", {"resume_from": "bigger"})
    assert not at.exception and at.title[0].value == "Train a CNN"  # the training page follows the new run


def test_continue_uses_the_data_chosen_on_the_training_page(app_dirs, monkeypatch, tmp_path):
    from cnn_core.server import queue

    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    calls = []
    monkeypatch.setattr(queue, "submit", fake_submit(calls, "20260101-140000-ffffff"))
    at = open_models()
    at.switch_page("app_pages/training.py").run()
    at.text_input(key="data_path").set_value(str(tmp_path / "nowhere")).run()
    at.switch_page("app_pages/models.py").run()
    assert at.button(key="continue_training_small").disabled is True  # that folder does not exist
    assert any("does not exist" in warning.value for warning in at.warning)


def test_a_model_gone_since_it_was_picked_is_said_so_and_its_continue_click_starts_nothing(app_dirs, monkeypatch):
    from cnn_core.models import registry
    from cnn_core.server import queue

    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    write_model(app_dirs["models"], "bigger", TrainConfig(filters=[32, 64]), 0.58)
    calls = []
    monkeypatch.setattr(queue, "submit", fake_submit(calls, "20260101-140000-ffffff"))
    at = open_models()
    at.selectbox(key="registry_model").set_value("small").run()
    registry.delete_model("small")  # by its owner, in another tab (or made private: the same to this visitor)
    at.button(key="continue_training_small").click().run()
    assert calls == []  # the click was for "small": it never continues the model the picker falls back to
    assert any("no saved model named 'small'" in warning.value for warning in at.warning)
    assert at.selectbox(key="registry_model").value == "bigger" and not at.exception


def test_models_page_in_chinese(app_dirs):
    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    write_model(app_dirs["models"], "bigger", TrainConfig(filters=[32, 64], flip=True), 0.58)
    at = open_models("zh")
    assert at.title[0].value == "已保存的模型"
    at.multiselect(key="compare_models").set_value(["small", "bigger"]).run()
    assert list(table_with(at, "small")[""]) == ["测试准确率", "训练时间（秒）", "每个卷积块的卷积核数量", "水平翻转"]
    shown = "\n".join([item.value for kind in (at.title, at.markdown, at.caption) for item in kind]
                      + [button.label for button in at.button] + [at.number_input(key="more_epochs").label]
                      + [button.label for button in at.get("download_button")])
    assert "继续训练" in shown and english_leftovers(shown) == []
    assert [button.key for button in at.get("download_button")] == ["download_model", "download_settings",
                                                                     "download_weights", "export_code",
                                                                     "export_saved_model", "export_tflite",
                                                                     "download_card"]
    assert "下载权重（.weights.h5）" in shown and "安全" in shown
    assert "下载 Keras 训练脚本（.py）" in shown and "测试时翻转" in shown  # the exports and what they leave out
    assert "# 模型卡：" in shown and "10 个类别的 32x32 图片" in shown  # the card of the picked model, in Chinese


def test_the_model_card_of_the_picked_model(app_dirs):
    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    write_model(app_dirs["models"], "bigger", TrainConfig(filters=[32, 64], flip=True), 0.58)
    at = open_models()
    at.selectbox(key="registry_model").set_value("bigger").run()
    card = next(item.value for item in at.markdown if item.value.startswith("# Model card:"))
    assert card.startswith("# Model card: bigger") and "Test accuracy: 58.0%" in card and "32 → 64 filters" in card
    assert "Augmentation: horizontal flip" in card


def test_corruption_accuracy_is_a_column_and_in_the_card(app_dirs):
    robustness = {"clean": 0.6, "noise_4": 0.55, "noise_8": 0.5, "blur_1": 0.4, "jpeg_30": 0.52, "contrast_0.6": 0.53,
                  "mean": 0.5}
    write_model(app_dirs["models"], "small", TrainConfig(filters=[8]), 0.41)
    write_model(app_dirs["models"], "robust", TrainConfig(filters=[8], noise_std=8.0), 0.62, robustness=robustness)
    at = open_models()
    table = table_with(at, "corruption_accuracy").set_index("name")
    assert table.loc["robust", "corruption_accuracy"] == 50.0 and pd.isna(table.loc["small", "corruption_accuracy"])
    at.selectbox(key="registry_model").set_value("robust").run()
    card = next(item.value for item in at.markdown if item.value.startswith("# Model card:"))
    assert "corruption accuracy: 50.0%" in card and "| JPEG compression at quality 30 | 52.0% |" in card
    assert "Gaussian noise (standard deviation drawn per image up to 8/255)" in card


def test_no_models_yet_points_to_the_training_page(app_dirs):
    at = open_models("zh")
    assert at.info[0].value == "还没有保存的模型：先训练一个吧。"
    assert [link.proto.page for link in at.get("page_link")] == ["training"]

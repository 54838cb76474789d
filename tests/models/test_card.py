"""The model card: every recorded fact in the reader's language, missing fields left out, never guessed."""

from __future__ import annotations

import json
import math

from cnn_core import i18n
from cnn_core.models.card import model_card, per_class_accuracy
from cnn_core.training.config import TrainConfig

from helpers.paths import PROJECT_ROOT
from helpers.text import CJK, english_leftovers

SHIPPED = json.loads((PROJECT_ROOT / "models" / "cifar10-subset-best" / "metadata.json").read_text())


def test_the_shipped_models_card_has_its_data_recipe_results_and_limits():
    card = model_card(SHIPPED, "en")
    assert card.startswith("# Model card: cifar10-subset-best\n")
    assert f"Training images: {SHIPPED['train_images']:,}" in card and "Test images (never seen in training): 509" in card
    assert "64 → 128 → 256 filters" in card and "AdamW" in card and "one-cycle" in card
    assert f"{SHIPPED['epochs_trained']} epochs" in card and "Whitening layer: 2×2 patches" in card
    accuracy = SHIPPED["test_accuracy"]
    margin = 1.96 * math.sqrt(accuracy * (1 - accuracy) / 509)
    assert f"Test accuracy: {accuracy:.1%} (± {margin:.1%}" in card
    assert f"| cat | {SHIPPED['per_class_accuracy']['cat']:.1%} |" in card
    assert f"Training time: {SHIPPED['training_seconds'] / 60:.1f} minutes" in card
    assert "Trained on 32x32 pictures of 10 classes: anything else is forced into one of them." in card
    weakest = min(SHIPPED["per_class_accuracy"], key=SHIPPED["per_class_accuracy"].get)
    assert weakest in card.split("Noticeably weaker on:")[1].splitlines()[0]
    older = {key: value for key, value in SHIPPED.items() if key not in ("validation_accuracy", "validation_images")}
    assert "Validation" not in model_card(older, "en")  # a model saved before the split records none: omitted


def test_the_chinese_card_is_chinese():
    card = model_card(SHIPPED, "zh")
    assert card.startswith("# 模型卡：cifar10-subset-best")
    assert "飞机、汽车、鸟" in card and "| 猫 |" in card and "10 个类别的 32x32 图片" in card
    assert english_leftovers(card) == [] and CJK.search(card)


def test_validation_numbers_appear_when_recorded_and_a_bare_file_still_makes_a_card():
    metadata = {**SHIPPED, "validation_accuracy": 0.7512, "validation_images": 1017}
    card = model_card(metadata, "en")
    assert "Validation accuracy: 75.1%" in card and "Validation images (held out from the training data): 1,017" in card
    bare = model_card({"name": "imported", "class_names": ["a", "b"]}, "zh")
    assert "# 模型卡：imported" in bare and i18n.text("zh", "card.unknown") in bare and "2 个类别" in bare
    assert "## 训练方案" not in bare and "测试准确率：" not in bare


def test_a_model_trained_on_every_training_image_says_so_instead_of_counting_zero_validation_images():
    metadata = {**SHIPPED, "validation_accuracy": None, "validation_images": 0}
    english, chinese = model_card(metadata, "en"), model_card(metadata, "zh")
    assert "No validation images: every training image was trained on" in english
    assert "Validation images (held out" not in english and "Validation accuracy" not in english
    assert "没有验证图片" in chinese and english_leftovers(chinese) == []


def test_per_class_accuracy_reads_a_dict_or_a_list_in_class_order():
    assert per_class_accuracy({"class_names": ["x", "y"], "per_class_accuracy": [0.5, None]}) == {"x": 0.5, "y": None}
    assert per_class_accuracy({"class_names": ["x"], "per_class_accuracy": {"x": 1}}) == {"x": 1.0}
    assert per_class_accuracy({"class_names": ["x"], "per_class_accuracy": [0.1, 0.2]}) == {}
    card = model_card({"name": "m", "class_names": ["x"], "config": TrainConfig().to_dict(), "test_accuracy": 0.5})
    assert "Augmentation:" in card


def test_a_progressive_run_says_so_in_both_languages():
    config = {**SHIPPED["config"], "progressive_resizing": True}
    assert "early epochs on shrunk images" in model_card({**SHIPPED, "config": config}, "en")
    assert "early epochs" not in model_card(SHIPPED, "en")
    chinese = model_card({**SHIPPED, "config": config}, "zh")
    assert "渐进式缩放" in chinese and english_leftovers(chinese) == []


def test_a_mixup_run_says_so_in_both_languages():
    without = {**SHIPPED, "config": {**SHIPPED["config"], "mixup_alpha": 0.0}}
    with_mixup = {**SHIPPED, "config": {**SHIPPED["config"], "mixup_alpha": 0.2}}
    assert "mixup" not in model_card(without, "en")
    assert "mixup (images and labels blended in pairs, α 0.2)" in model_card(with_mixup, "en")
    chinese = model_card(with_mixup, "zh")
    assert "两两按比例混合，α 0.2" in chinese and english_leftovers(chinese) == []


def test_the_arithmetic_a_model_trained_in_is_named_in_both_languages_and_an_unknown_one_left_out():
    mixed = {**SHIPPED, "precision": "mixed_bfloat16"}
    assert "Arithmetic while training: mixed precision (16-bit bfloat16" in model_card(mixed, "en")
    chinese = model_card(mixed, "zh")
    assert "训练时的运算精度：混合精度" in chinese and english_leftovers(chinese) == []
    assert "Arithmetic while training: 32-bit floating point" in model_card({**SHIPPED, "precision": "float32"}, "en")
    for unknown in (None, "float8", "[x](http://example.com)", ["float32"]):
        assert "Arithmetic" not in model_card({**SHIPPED, "precision": unknown}, "en")


ROBUSTNESS = {"clean": 0.8, "noise_4": 0.75, "noise_8": 0.7, "blur_1": 0.65, "jpeg_30": 0.72, "contrast_0.6": 0.78,
              "mean": 0.72}


def test_corruption_accuracy_is_on_the_card_in_both_languages():
    metadata = {**SHIPPED, "robustness": ROBUSTNESS}
    english, chinese = model_card(metadata, "en"), model_card(metadata, "zh")
    assert "## Common corruptions" in english and "the corruption accuracy: 72.0%" in english
    assert "uncorrupted, without test-time flip: 80.0%" in english
    assert "| Gaussian noise, standard deviation 8/255 (grain of a phone camera in dim light) | 70.0% |" in english
    assert "| Gaussian blur, radius 1 pixel(s) (a photo slightly out of focus) | 65.0% |" in english
    assert english.index("## Common corruptions") < english.index("## Limits")
    assert "## 常见的图像损坏" in chinese and "损坏准确率：72.0%" in chinese and "| JPEG 压缩，质量 30 | 72.0% |" in chinese
    assert english_leftovers(chinese) == []


def test_a_card_without_a_usable_robustness_record_leaves_the_section_out():
    for recorded in (None, "72%", {}, {"mean": 0.7}, {"noise_8": 0.7}, {"noise_8": "0.7", "mean": 0.7}):
        metadata = {key: value for key, value in SHIPPED.items() if key != "robustness"}
        if recorded is not None:
            metadata["robustness"] = recorded
        assert "## Common corruptions" not in model_card(metadata, "en"), recorded
    partial = model_card({**SHIPPED, "robustness": {"noise_8": 0.7, "mean": 0.7}}, "en")  # an older suite: what it has
    assert "| Gaussian noise, standard deviation 8/255" in partial and "JPEG" not in partial.split("## Common")[1]
    odd = model_card({**SHIPPED, "robustness": {"noise_8": 0.7, "haze_2": 0.1, "blur_x": 0.2, "_": 0.3, "mean": 0.7}},
                     "en").split("## Common")[1].split("## Limits")[0]  # names the card has no words for: left out
    assert len([line for line in odd.splitlines() if line.startswith("| ")]) == 2 and "10.0%" not in odd and "20.0%" not in odd and "30.0%" not in odd


def test_noise_augmentation_and_a_whitening_cap_are_part_of_the_recipe():
    config = {**SHIPPED["config"], "noise_std": 8.0, "whitening_max_gain": 10.0, "blur_sigma": 0.5, "jpeg_quality": 40}
    english, chinese = model_card({**SHIPPED, "config": config}, "en"), model_card({**SHIPPED, "config": config}, "zh")
    assert "Gaussian noise (standard deviation drawn per image up to 8/255)" in english
    assert "Whitening gain capped at 10" in english
    assert "Gaussian blur (standard deviation drawn per image up to 0.5 pixels)" in english
    assert "JPEG compression (quality drawn per image from 40 to 100)" in english
    assert "高斯噪声（每张图像的标准差随机取值，最大 8/255）" in chinese and "白化增益上限为 10" in chinese
    plain = model_card({**SHIPPED, "config": {**SHIPPED["config"], "noise_std": 0.0, "whitening_max_gain": 0.0,
                                              "blur_sigma": 0.0, "jpeg_quality": 0}}, "en")
    assert "Gaussian noise (" not in plain and "capped" not in plain and "Gaussian blur (" not in plain
    assert "JPEG compression (" not in plain

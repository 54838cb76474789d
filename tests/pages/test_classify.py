"""The classify page through streamlit.testing.v1.AppTest, in English and Chinese, with tiny models saved
into a temporary registry. Widgets are found by key, so the same steps work in both languages."""

from __future__ import annotations

import io
import json
import re
import string

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core import i18n
from cnn_core.training.config import TrainConfig

from helpers.colour_task import CLASSES, colour_images, save_colour_model, train_colour_model
from helpers.paths import APP
from helpers.text import CJK, shown

TIMEOUT = 90  # the first run imports TensorFlow and loads the model
# The same colour task under CIFAR-10 names, so the Chinese page has class names to translate.
CIFAR_NAMES = ["airplane", "automobile", "bird"]  # red -> 飞机, green -> 汽车, blue -> 鸟


@pytest.fixture(scope="module")
def trained_colour_model():
    """A tiny model (one block, batch norm so the page shows block1_act1) trained on the colour task."""
    config = TrainConfig(filters=[4], batch_norm=True, epochs=4)
    return train_colour_model(config), config


def save(model, config, name: str, created: str, class_names=CLASSES, **extra) -> None:
    save_colour_model(model, config, name, class_names, **{
        "dataset": f"synthetic colours ({name})", "train_images": 300, "test_images": 60, "test_accuracy": 0.95,
        "per_class_accuracy": [0.95] * 3, "history": [], "created": created, "training_seconds": 1.0,
        "run_id": None, **extra,
    })


@pytest.fixture()
def registry_with_model(app_dirs, trained_colour_model) -> str:
    model, config = trained_colour_model
    save(model, config, "colours", "2025-01-01T00:00:00+00:00")
    return "colours"


@pytest.fixture()
def registry_with_cifar_names(app_dirs, trained_colour_model) -> str:
    model, config = trained_colour_model
    save(model, config, "cifar-names", "2025-01-01T00:00:00+00:00", class_names=CIFAR_NAMES)
    return "cifar-names"


def png(colour, size=(96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def open_page(language: str | None = None) -> AppTest:
    # Through the router (it settles the language), so links and st.switch_page resolve as in the app.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if language:
        at.query_params["lang"] = language
    return at.switch_page("app_pages/classify.py").run()


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    return at.file_uploader(key="classify_uploads").set_value([(name, data, "image/png") for name, data in files]).run()


def open_sections(at: AppTest, *keys: str) -> AppTest:
    """Open the page's lazy expanders (a click reruns the page; closed, they compute nothing)."""
    for key in keys or ("classify_math_open", "classify_grad_cam_open", "classify_inside_open"):
        at.session_state[key] = True
    return at.run()


def shown_texts(at: AppTest) -> list[str]:
    """Every piece of text the page shows: headings, Markdown, messages, widget and expander labels."""
    texts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        texts += [element.value for element in getattr(at, kind)]
    for kind in ("selectbox", "radio", "file_uploader", "toggle", "multiselect", "number_input", "button",
                 "text_input", "expander", "page_link"):
        texts += [element.label for element in getattr(at, kind)]
    texts += [caption for image in at.image for caption in image.captions]
    return texts


def literal_chunks(template: str) -> list[str]:
    """The fixed words of a template, without its {placeholders}."""
    return [literal.strip() for literal, *_ in string.Formatter().parse(template) if literal.strip()]


def test_every_classify_text_exists_in_both_languages_with_the_same_placeholders():
    english, chinese = i18n.table("en"), i18n.table("zh")
    keys = {key for key in english if key.startswith(("classify.", "explain."))}
    assert keys == {key for key in chinese if key.startswith(("classify.", "explain."))}
    for key in keys:
        assert i18n.placeholders(english[key]) == i18n.placeholders(chinese[key]), key
        words = " ".join(literal_chunks(chinese[key]))
        if re.search("[A-Za-z]{3}", words.replace("Keras", "")):  # words, not just {placeholders} and punctuation
            assert CJK.search(words), f"{key} is not translated"


def test_without_models_the_page_points_to_training(app_dirs):
    at = open_page()
    assert not at.exception
    assert any("no trained model" in info.value.lower() for info in at.info)
    at = open_page("zh")
    assert not at.exception
    assert [title.value for title in at.title] == ["图像分类"]
    assert any("还没有训练好的模型" in info.value for info in at.info)


def test_the_models_training_data_is_described_in_the_pages_language(app_dirs, trained_colour_model):
    """A job records where its data came from as a table key: the caption speaks Chinese; junk falls back."""
    model, config = trained_colour_model
    about = i18n.Message("datasets.cifar_subset", {"location": "/data/cifar-10-batches-py", "train": 5085, "test": 509})
    save(model, config, "described", "2025-02-01T00:00:00+00:00", dataset=about.text("en"),
         dataset_about=i18n.message_record(about))
    captions = [caption.value for caption in open_page("zh").caption]
    assert any("CIFAR-10 子集，位于 /data/cifar-10-batches-py（训练 5,085 张 / 测试 509 张）" in c for c in captions), captions
    assert any("CIFAR-10 subset at /data/cifar-10-batches-py (5,085 train / 509 test)" in c
               for c in (caption.value for caption in open_page("en").caption))
    broken = {"key": "datasets.cifar_subset", "values": {"location": "/x", "train": "many"}}  # no "test", "many" not a number
    save(model, config, "described", "2025-02-01T00:00:00+00:00", dataset="as the file says", dataset_about=broken)
    assert any("as the file says" in caption.value for caption in open_page("zh").caption)


def test_a_picked_model_gone_meanwhile_is_said_so_before_another_classifies(app_dirs, trained_colour_model):
    from cnn_core.models import registry

    model, config = trained_colour_model
    save(model, config, "older", "2025-01-01T00:00:00+00:00")
    save(model, config, "newer", "2025-02-01T00:00:00+00:00")
    at = open_page("en")
    at.selectbox(key="classify_model").set_value("older").run()
    registry.delete_model("older")  # its owner deleted it (or made it private) in another tab
    at.run()
    assert any("no saved model named 'older'" in warning.value for warning in at.warning)
    assert at.selectbox(key="classify_model").value == "newer" and not at.exception


def test_two_uploads_give_two_results_with_thumbnails(registry_with_model):
    at = open_sections(upload(open_page(), ("red.png", png((220, 30, 30))), ("blue.png", png((20, 40, 230)))),
                       "classify_math_open")
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "top class" in frame.value.columns)
    assert list(table["file"]) == ["red.png", "blue.png"]
    assert list(table["top class"]) == ["red", "blue"]  # folder-style class names are shown as they are
    assert all(url.startswith("data:image/png;base64,") for url in table["image"])
    # Details of the first image: the headline, the preprocessing sentence and the softmax formula.
    assert at.subheader[-1].value.startswith("red.png: red")
    assert any("EXIF orientation applied" in caption.value for caption in at.caption)
    assert any(r"\frac" in latex.value and "e^{" in latex.value for latex in at.latex)
    details = at.selectbox(key="classify_details")
    details.set_value(1).run()
    assert at.subheader[-1].value.startswith("blue.png: blue")


def test_the_formulas_carry_this_photos_numbers(registry_with_model):
    from cnn_core.classify import explain, inference
    from cnn_core.classify import figures as explain_figures
    from cnn_core.models import registry

    at = open_sections(upload(open_page(), ("red.png", png((220, 30, 30)))))
    assert not at.exception
    model = registry.load_model("colours")
    image = inference.prepare_image(Image.open(io.BytesIO(png((220, 30, 30)))).convert("RGB"), "crop")
    # Independent reference: the model's own softmax output, and its last layer's input size.
    probability = float(model(image[None].astype("float32"), training=False).numpy()[0].max())
    scores = explain.logits(model, image)
    latex = [element.value for element in at.latex]
    softmax = next(value for value in latex if r"\sum_j e^{z_j}" in value)
    assert f"e^{{{scores.max():.2f}}}" in softmax
    assert f"= {explain_figures.number(probability)}" + r"\end{aligned}" in softmax
    inputs = model.get_layer("predictions").input.shape[-1]
    assert any(rf"\underbrace{{W}}_{{3\times {inputs}}}" in value for value in latex)
    assert any(f"-\\log {explain_figures.number(probability)}" in value for value in latex)
    assert any(r"\operatorname{ReLU}\Big(" in value and "A^{" in value for value in latex)  # Grad-CAM's sum
    expanders = [expander.label for expander in at.expander]
    assert any("softmax" in label for label in expanders) and any("Grad-CAM" in label for label in expanders)
    assert any("Why do the dense layers come last?" in markdown.value for markdown in at.markdown)
    assert any("Why ReLU after the convolution?" in markdown.value for markdown in at.markdown)


def test_with_test_time_flip_the_worked_softmax_ends_at_the_reported_probability(app_dirs, trained_colour_model):
    """The worked example once showed a single pass (cat 42.9 %) under a headline that averaged two (frog 36.5 %)."""
    from cnn_core.classify import figures as explain_figures
    from cnn_core.models import registry

    model, config = trained_colour_model
    flipping = TrainConfig.from_dict({**config.to_dict(), "test_time_flip": True})
    save(model, flipping, "flipping", "2025-01-01T00:00:00+00:00")
    photo = np.zeros((64, 96, 3), dtype=np.uint8)
    photo[:, :48] = (220, 30, 30)  # red on the left, blue on the right: the mirror image reads differently
    photo[:, 48:] = (30, 30, 220)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    at = open_sections(upload(open_page("en"), ("halves.png", buffer.getvalue())), "classify_math_open")
    assert not at.exception
    from cnn_core.classify import inference

    image = inference.prepare_image(Image.fromarray(photo), "crop")
    loaded = registry.load_model("flipping")
    both = loaded(np.stack([image, image[:, ::-1]]).astype("float32"), training=False).numpy()
    reported = both.mean(axis=0)  # independent reference: the model's own softmax of both passes, averaged
    best = int(reported.argmax())
    headline = at.subheader[-1].value
    assert f"{reported[best]:.1%}" in headline and CLASSES[best] in headline
    latex = [element.value for element in at.latex]
    average = next(value for value in latex if "photo}}" in value and "mirror}}" in value)
    assert average.rstrip("$\n").endswith(f"= {explain_figures.number(float(reported[best]))}")
    assert len([value for value in latex if r"\sum_j e^{z_j}" in value]) == 2  # worked out for each pass
    assert any(f"That is the {reported[best]:.1%} for **{CLASSES[best]}**" in caption.value for caption in at.caption)


def test_in_chinese_class_names_text_and_formulas_are_chinese(registry_with_cifar_names):
    at = open_sections(upload(open_page("zh"), ("red.png", png((220, 30, 30))), ("blue.png", png((20, 40, 230)))),
                       "classify_math_open")
    assert not at.exception
    assert [title.value for title in at.title] == ["图像分类"]
    table = next(frame.value for frame in at.dataframe if "最可能的类别" in frame.value.columns)
    assert list(table["最可能的类别"]) == ["飞机", "鸟"]
    assert at.subheader[-1].value.startswith("red.png：飞机（")
    assert at.subheader[-1].value.endswith("%）")
    assert any(caption.value.startswith("预处理：") for caption in at.caption)
    assert any(r"p_{\text{飞机}}" in latex.value for latex in at.latex)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["data"][0]["y"][-1] == "飞机" and chart["layout"]["xaxis"]["title"]["text"] == "概率"
    assert any("为什么全连接层放在最后" in markdown.value for markdown in at.markdown)
    # No English sentence of the page's table leaks into the Chinese page.
    shown = "\n".join(shown_texts(at))
    for key, template in i18n.table("en").items():
        if key.startswith(("classify.", "explain.")):
            for chunk in literal_chunks(template):
                assert len(chunk) < 12 or chunk not in shown, f"English text of {key} on the Chinese page"


def test_in_chinese_changing_a_widget_changes_the_output(registry_with_cifar_names):
    at = upload(open_page("zh"), ("red.png", png((220, 30, 30), size=(120, 60))))
    grad_cam_caption = next(caption for image in at.image for caption in image.captions if "Grad-CAM" in caption)
    assert "飞机" in grad_cam_caption
    picker = at.selectbox(key=next(key for key in at.session_state if str(key).startswith("explain_class_")))
    picker.set_value(CIFAR_NAMES.index("bird")).run()  # the options are class indices, shown translated
    grad_cam_caption = next(caption for image in at.image for caption in image.captions if "Grad-CAM" in caption)
    assert "“鸟”" in grad_cam_caption
    assert any("居中裁剪为 60x60" in caption.value for caption in at.caption)
    at.radio(key="classify_fit").set_value("pad").run()
    assert not at.exception
    assert any("填充为 120x120" in caption.value for caption in at.caption)


def test_switching_the_language_keeps_the_uploads(registry_with_cifar_names):
    at = upload(open_page("en"), ("blue.png", png((20, 40, 230))))
    assert at.subheader[-1].value.startswith("blue.png: bird")
    at.selectbox(key="language").set_value("zh").run()
    assert not at.exception
    assert at.subheader[-1].value.startswith("blue.png：鸟")


def test_a_bad_upload_is_reported_and_the_others_still_classified(registry_with_model):
    at = upload(open_page(), ("notes.png", b"this is text, not a picture"), ("green.png", png((30, 220, 30))))
    assert not at.exception
    assert any("notes.png" in error.value and "not a picture" in error.value for error in at.error)
    assert at.subheader[-1].value.startswith("green.png: green")
    at = upload(open_page("zh"), ("notes.png", b"this is text, not a picture"))
    assert any(error.value.startswith("**notes.png** 无法使用") for error in at.error)


def test_look_inside_lists_every_layer_and_sends_a_filter_to_the_convolution_page(registry_with_model):
    at = upload(open_page(), ("red.png", png((220, 30, 30))))
    assert not any(caption.startswith("block1_act1") for image in at.image for caption in image.captions)  # closed
    at = open_sections(at, "classify_inside_open")
    assert not at.exception
    captions = [shown(caption) for image in at.image for caption in image.captions]
    # The model has one block with batch norm: conv -> bn -> act -> pool, so two activation grids.
    assert any(caption.startswith("block1_act1: 4 channels of 30x30") and "are 0 after ReLU" in caption
               for caption in captions)
    assert any(caption.startswith("block1_pool: 4 channels of 15x15") for caption in captions)
    assert any("4 learned 3x3 filters" in caption for caption in captions)
    assert any(caption.startswith("Grad-CAM for") for caption in captions)
    at.number_input(key="classify_filter").set_value(2)
    at.radio(key="classify_channel").set_value(1)
    at.button(key="classify_send").click().run()
    # The learned filter 2, green input channel, exactly as the model holds it.
    from cnn_core.models import registry

    expected = registry.load_model("colours").get_layer("block1_conv1").kernel.numpy()[:, :, 1, 1]
    np.testing.assert_allclose(at.session_state["kernel_from_model"], expected, atol=1e-6)
    titles = [title.value for title in at.title]
    assert titles and "Classify images" not in titles  # switched pages, kernel in hand


def test_look_inside_says_a_whitening_first_layer_was_computed_not_learned(app_dirs):
    from cnn_core.training.model import adapt_whitening

    config = TrainConfig(filters=[4], whitening_patch=2)
    model = train_colour_model(config)
    adapt_whitening(model, colour_images(60, seed=3)[0], config)
    save(model, config, "whitened", "2025-01-01T00:00:00+00:00")
    at = open_sections(upload(open_page(), ("red.png", png((220, 30, 30)))), "classify_inside_open")
    assert not at.exception
    captions = [shown(caption) for image in at.image for caption in image.captions]
    assert any(caption.startswith("The 24 2x2 filters of the first convolution: the whitening layer") for caption in captions)
    assert not any("learned" in caption and "filters" in caption for caption in captions), captions
    # No hand-made kernel is 2x2: a sentence says so instead of a table of dashes.
    assert any("No hand-made kernel is 2x2" in shown(caption.value) for caption in at.caption)
    assert not any("Learned filters meet" in shown(block.value) for block in at.markdown)


def test_the_shipped_model_is_the_default_else_the_newest(app_dirs, trained_colour_model):
    model, config = trained_colour_model
    save(model, config, "older", "2025-01-01T00:00:00+00:00")
    save(model, config, "newer", "2025-06-01T00:00:00+00:00")
    at = open_page()
    assert at.selectbox(key="classify_model").value == "newer"
    save(model, config, "shipped-one", "2024-01-01T00:00:00+00:00", shipped=True)
    at = open_page()
    assert at.selectbox(key="classify_model").value == "shipped-one"
    assert any("synthetic colours (shipped-one)" in shown(caption.value) for caption in at.caption)
    at = open_page("zh")
    assert any(shown(caption.value).startswith("训练数据：synthetic colours (shipped-one) · 3 个类别")
               for caption in at.caption)


def test_importing_a_model_from_config_and_weights(app_dirs, trained_colour_model, tmp_path):
    model, config = trained_colour_model
    weights = tmp_path / "exported.weights.h5"
    model.save_weights(weights)
    description = json.dumps({"config": config.to_dict(), "class_names": CLASSES}).encode()
    at = open_sections(open_page(), "classify_import_open")
    at.file_uploader(key="import_config").set_value(("model.json", description, "application/json"))
    at.file_uploader(key="import_weights").set_value(("exported.weights.h5", weights.read_bytes(), "application/x-hdf5"))
    at.text_input(key="import_name").set_value("from-elsewhere")
    next(button for button in at.button if button.label == "Import").click().run()
    assert not at.exception
    assert any("from-elsewhere" in success.value for success in at.success)
    assert at.selectbox(key="classify_model").value == "from-elsewhere"  # the only model, picked by default
    # A full model file is refused, with the reason.
    keras_file = tmp_path / "model.keras"
    model.save(keras_file)
    at = open_sections(at, "classify_import_open")
    at.file_uploader(key="import_config").set_value(("model.json", description, "application/json"))
    at.file_uploader(key="import_weights").set_value(("model.weights.h5", keras_file.read_bytes(), "application/x-hdf5"))
    at.text_input(key="import_name").set_value("sneaky")
    next(button for button in at.button if button.label == "Import").click().run()
    assert any("never loads model files" in error.value for error in at.error)


def test_an_unsure_prediction_is_flagged(app_dirs):
    from cnn_core.training.config import TrainConfig
    from cnn_core.training.model import build_model

    config = TrainConfig(filters=[4])
    untrained = build_model(config, num_classes=3)  # near-uniform guesses
    save(untrained, config, "untrained", "2025-01-01T00:00:00+00:00")
    grey = png((128, 128, 128))
    top_probability = untrained(np.full((1, 32, 32, 3), 128, dtype="float32"), training=False).numpy().max()
    assert top_probability < 0.5
    at = upload(open_page(), ("grey.png", grey))
    assert any("Low confidence" in warning.value and "50%" in warning.value for warning in at.warning)
    at = upload(open_page("zh"), ("grey.png", grey))
    assert any(warning.value.startswith("置信度低") and "50%" in warning.value for warning in at.warning)


def test_a_damaged_model_file_gives_a_message_not_a_crash(registry_with_model, app_dirs):
    (app_dirs["models"] / "colours" / "model.keras").write_bytes(b"PK\x03\x04 truncated zip")
    at = open_page()
    assert at.file_uploader(key="classify_uploads")  # the uploader first: the model is loaded for a photo
    at = upload(at, ("red.png", png((220, 30, 30))))
    assert not at.exception
    assert any("cannot be used" in error.value for error in at.error)


def test_camera_is_off_until_asked_and_samples_can_be_classified(registry_with_model):
    at = open_page()
    assert len(at.camera_input) == 0  # no permission prompt on load
    at.toggle(key="classify_camera_on").set_value(True).run()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 40, 220)).save(buffer, format="JPEG")
    at.camera_input(key="classify_camera").set_value(("photo.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception
    assert at.subheader[-1].value.startswith("camera photo: blue")
    at.multiselect(key="classify_samples").set_value(["Checkerboard"]).run()
    assert not at.exception
    assert at.subheader[0].value == "2 images"
    assert any("Drawn by CNN Studio" in caption.value for caption in at.caption)

"""The classify page through streamlit.testing.v1.AppTest, with a tiny model saved into a temporary registry."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 90  # the first run imports TensorFlow and loads the model
CLASSES = ["red", "green", "blue"]


def colour_images(count: int, seed: int):
    """Noisy images whose dominant colour channel is the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    images = rng.integers(0, 90, (count, 32, 32, 3))
    images[np.arange(count), :, :, labels] += 150
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def trained_colour_model():
    """A tiny model (one block, batch norm so the page shows block1_act1) trained on the colour task."""
    import keras

    from cnn_core.config import TrainConfig
    from cnn_core.model import build_model

    keras.utils.set_random_seed(0)
    config = TrainConfig(filters=[4], batch_norm=True, epochs=4)
    model = build_model(config, num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    images, labels = colour_images(300, seed=1)
    model.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    return model, config


def save(model, config, name: str, created: str, **extra) -> None:
    import keras

    from cnn_core import registry

    registry.save_model(model, name, {
        "name": name, "config": config.to_dict(), "class_names": CLASSES, "dataset": f"synthetic colours ({name})",
        "train_images": 300, "test_images": 60, "test_accuracy": 0.95, "per_class_accuracy": [0.95] * 3,
        "history": [], "created": created, "training_seconds": 1.0, "keras_version": keras.__version__,
        "run_id": None, **extra,
    })


@pytest.fixture()
def registry_with_model(app_dirs, trained_colour_model) -> str:
    model, config = trained_colour_model
    save(model, config, "colours", "2025-01-01T00:00:00+00:00")
    return "colours"


def png(colour, size=(96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def open_page() -> AppTest:
    # Through the router, so links and st.switch_page to the other pages resolve as in the app.
    return AppTest.from_file(APP, default_timeout=TIMEOUT).switch_page("app_pages/classify.py").run()


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    uploader = next(widget for widget in at.file_uploader if widget.label == "Upload photos")
    return uploader.set_value([(name, data, "image/png") for name, data in files]).run()


def test_without_models_the_page_points_to_training(app_dirs):
    at = open_page()
    assert not at.exception
    assert any("no trained model" in info.value.lower() for info in at.info)


def test_two_uploads_give_two_results_with_thumbnails(registry_with_model):
    at = upload(open_page(), ("red.png", png((220, 30, 30))), ("blue.png", png((20, 40, 230))))
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "top class" in frame.value.columns)
    assert list(table["file"]) == ["red.png", "blue.png"]
    assert list(table["top class"]) == ["red", "blue"]
    assert all(url.startswith("data:image/png;base64,") for url in table["image"])
    # Details of the first image: the headline, the preprocessing sentence and the softmax formula.
    assert at.subheader[-1].value.startswith("red.png: red")
    assert any("EXIF orientation applied" in caption.value for caption in at.caption)
    assert any(r"\frac" in latex.value and "e^{" in latex.value for latex in at.latex)
    details = next(box for box in at.selectbox if box.label == "Details for")
    details.set_value(details.options[1]).run()
    assert at.subheader[-1].value.startswith("blue.png: blue")


def test_a_bad_upload_is_reported_and_the_others_still_classified(registry_with_model):
    at = upload(open_page(), ("notes.png", b"this is text, not a picture"), ("green.png", png((30, 220, 30))))
    assert not at.exception
    assert any("notes.png" in error.value and "not a picture" in error.value for error in at.error)
    assert at.subheader[-1].value.startswith("green.png: green")


def test_look_inside_lists_every_layer_and_sends_a_filter_to_the_convolution_page(registry_with_model):
    at = upload(open_page(), ("red.png", png((220, 30, 30))))
    assert not at.exception
    captions = [caption for image in at.image for caption in image.captions]
    # The model has one block with batch norm: conv -> bn -> act -> pool, so two activation grids.
    assert any(caption.startswith("block1_act1: 4 channels of 30x30") for caption in captions)
    assert any(caption.startswith("block1_pool: 4 channels of 15x15") for caption in captions)
    assert any("4 learned 3x3 filters" in caption for caption in captions)
    assert any(caption.startswith("Grad-CAM for") for caption in captions)
    at.number_input[0].set_value(2)
    next(radio for radio in at.radio if radio.label == "As a grey kernel, use").set_value(1)
    next(button for button in at.button if "convolution page" in button.label).click().run()
    # The learned filter 2, green input channel, exactly as the model holds it.
    from cnn_core import registry

    expected = registry.load_model("colours").get_layer("block1_conv1").kernel.numpy()[:, :, 1, 1]
    np.testing.assert_allclose(at.session_state["kernel_from_model"], expected, atol=1e-6)
    assert [title.value for title in at.title] == ["Convolution & pooling"]  # switched pages, kernel in hand


def test_the_shipped_model_is_the_default_else_the_newest(app_dirs, trained_colour_model):
    model, config = trained_colour_model
    save(model, config, "older", "2025-01-01T00:00:00+00:00")
    save(model, config, "newer", "2025-06-01T00:00:00+00:00")
    at = open_page()
    assert at.selectbox[0].value == "newer"
    save(model, config, "shipped-one", "2024-01-01T00:00:00+00:00", shipped=True)
    at = open_page()
    assert at.selectbox[0].value == "shipped-one"
    assert any("synthetic colours (shipped-one)" in caption.value for caption in at.caption)


def test_importing_a_model_from_config_and_weights(app_dirs, trained_colour_model, tmp_path):
    model, config = trained_colour_model
    weights = tmp_path / "exported.weights.h5"
    model.save_weights(weights)
    description = json.dumps({"config": config.to_dict(), "class_names": CLASSES}).encode()
    at = open_page()
    form_uploaders = {widget.label: widget for widget in at.file_uploader}
    form_uploaders["Configuration (JSON)"].set_value(("model.json", description, "application/json"))
    form_uploaders["Weights (.weights.h5)"].set_value(("exported.weights.h5", weights.read_bytes(), "application/x-hdf5"))
    at.text_input[0].set_value("from-elsewhere")
    next(button for button in at.button if button.label == "Import").click().run()
    assert not at.exception
    assert any("from-elsewhere" in success.value for success in at.success)
    assert at.selectbox[0].value == "from-elsewhere"  # the only model, picked by default
    # A full model file is refused, with the reason.
    keras_file = tmp_path / "model.keras"
    model.save(keras_file)
    form_uploaders = {widget.label: widget for widget in at.file_uploader}
    form_uploaders["Configuration (JSON)"].set_value(("model.json", description, "application/json"))
    form_uploaders["Weights (.weights.h5)"].set_value(("model.weights.h5", keras_file.read_bytes(), "application/x-hdf5"))
    at.text_input[0].set_value("sneaky")
    next(button for button in at.button if button.label == "Import").click().run()
    assert any("never loads model files" in error.value for error in at.error)


def test_an_unsure_prediction_is_flagged(app_dirs):
    from cnn_core.config import TrainConfig
    from cnn_core.model import build_model

    config = TrainConfig(filters=[4])
    untrained = build_model(config, num_classes=3)  # near-uniform guesses
    save(untrained, config, "untrained", "2025-01-01T00:00:00+00:00")
    grey = png((128, 128, 128))
    top_probability = untrained(np.full((1, 32, 32, 3), 128, dtype="float32"), training=False).numpy().max()
    assert top_probability < 0.5
    at = upload(open_page(), ("grey.png", grey))
    assert any("Low confidence" in warning.value and "50%" in warning.value for warning in at.warning)


def test_a_damaged_model_file_gives_a_message_not_a_crash(registry_with_model, app_dirs):
    (app_dirs["models"] / "colours" / "model.keras").write_bytes(b"PK\x03\x04 truncated zip")
    at = open_page()
    assert not at.exception
    assert any("cannot be used" in error.value for error in at.error)


def test_camera_is_off_until_asked_and_samples_can_be_classified(registry_with_model):
    at = open_page()
    assert len(at.camera_input) == 0  # no permission prompt on load
    at.toggle[0].set_value(True).run()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 40, 220)).save(buffer, format="JPEG")
    at.camera_input[0].set_value(("photo.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception
    assert at.subheader[-1].value.startswith("camera photo: blue")
    at.multiselect[0].set_value(["Checkerboard"]).run()
    assert not at.exception
    assert at.subheader[0].value == "2 images"
    assert any("Drawn by CNN Studio" in caption.value for caption in at.caption)

"""The classify page's probes (occlusion, what-if, adversarial lab) through AppTest, in English and Chinese.

The probes stay off until switched on (opening the page asks the model nothing new); switched on they
show a chart, the numbers behind it, and the words of the page's language.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core import i18n
from cnn_core.training.config import TrainConfig

from helpers.colour_task import save_colour_model, train_colour_model
from helpers.paths import APP
from helpers.text import CJK, english_leftovers

TIMEOUT = 120
CIFAR_NAMES = ["airplane", "automobile", "bird"]  # translated class names, so the Chinese page has some to show


@pytest.fixture(scope="module")
def colour_model():
    config = TrainConfig(filters=[4], batch_norm=False, flip=False, epochs=4)
    return train_colour_model(config), config


@pytest.fixture()
def saved(app_dirs, colour_model):
    model, config = colour_model
    save_colour_model(model, config, "colours", CIFAR_NAMES, test_accuracy=0.95)
    return "colours"


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


PROBES = ("probe_occlusion_open", "probe_whatif_open", "probe_adversarial_open")  # their lazy expanders


def open_with_photo(language: str, opened: tuple[str, ...] = PROBES) -> AppTest:
    """The classify page with a photo, the probes' expanders opened (as a click on each would)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = language
    at = at.switch_page("app_pages/classify.py").run()
    at = at.file_uploader(key="classify_uploads").set_value([("red.png", png((220, 40, 30)), "image/png")]).run()
    for key in opened:
        at.session_state[key] = True
    return at.run() if opened else at


def probe_texts(at: AppTest, language: str) -> str:
    """Everything the three probe expanders show (the rest of the page has its own tests)."""
    titles = [i18n.table(language)[f"probes.{probe}.title"].split("{")[0] for probe in ("occlusion", "whatif", "adversarial")]
    texts = []
    for block in at.expander:
        if not any(block.label.startswith(title) for title in titles):
            continue
        texts.append(block.label)
        texts += [element.value for kind in ("markdown", "caption", "info", "error", "success")
                  for element in block.get(kind)]
        texts += [element.label for kind in ("toggle", "slider", "radio", "button", "text_input")
                  for element in block.get(kind)]
        texts += [caption for image in block.get("imgs") for caption in image.captions]
    assert len(texts) > 20
    return "\n".join(texts)


def test_probes_are_off_until_asked(saved):
    closed = open_with_photo("en", opened=())
    probe_switches = ("occlusion_on", "whatif_on", "attack_on")
    assert not closed.exception and not [toggle for toggle in closed.toggle if toggle.key in probe_switches]
    at = open_with_photo("en")
    assert not at.exception
    assert not any(chart.proto.spec and "Cividis" in chart.proto.spec for chart in at.get("plotly_chart"))
    for key in ("occlusion_on", "whatif_on", "attack_on"):
        assert at.toggle(key=key).value is False


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_probe_shows_its_chart_numbers_and_words(saved, language):
    at = open_with_photo(language)
    for key in ("occlusion_on", "whatif_on", "attack_on"):
        at.toggle(key=key).set_value(True)
    at.slider(key="attack_epsilon").set_value(16)
    at.radio(key="whatif_kind").set_value("brightness")
    at = at.run()
    assert not at.exception, at.exception
    tables = [frame.value for frame in at.dataframe]
    occlusion = next(table for table in tables if len(table.columns) == 3 and len(table) == 5)
    assert occlusion.iloc[:, 2].is_monotonic_decreasing  # the positions that hurt most, worst first
    curve = next(table for table in tables if len(table) == 25)  # brightness: 25 levels
    assert np.allclose(curve.iloc[:, 0], np.linspace(-120, 120, 25))
    assert ((curve.iloc[:, 1:] >= 0) & (curve.iloc[:, 1:] <= 1)).all().all()
    latex = [element.value for element in at.latex]
    assert any(r"\operatorname{sign}" in value and "16" in value for value in latex)
    text = probe_texts(at, language)
    if language == "zh":
        assert "遮挡" in text and "对抗样本" in text and CJK.search(text)
        assert english_leftovers(text) == []
    else:
        assert "Occlusion" in text and "Adversarial lab" in text


def test_the_test_split_curve_refuses_data_with_other_classes(saved, cifar_subset):
    at = open_with_photo("en")
    at.text_input(key="attack_data").set_value(str(cifar_subset))
    at = at.button(key="attack_curve").click().run()
    assert not at.exception
    assert any("other classes" in error.value for error in at.error)


def test_each_learned_filter_sits_beside_its_closest_preset_and_opens_it(saved, colour_model):
    from cnn_core.classify import explain
    from cnn_core.convolution.kernels import closest_preset

    at = open_with_photo("en")
    at.session_state["classify_inside_open"] = True  # "Look inside", where the filters are, computes once opened
    at.run()
    table = next(frame.value for frame in at.dataframe if "Closest preset" in frame.value.columns)
    filters = explain.first_layer_filters(colour_model[0])
    assert list(table["Filter"]) == list(range(1, filters.shape[-1] + 1))
    expected = closest_preset(np.asarray(explain.filter_as_kernel(filters, 0)))
    assert table["Similarity"][0] == pytest.approx(expected.similarity, abs=1e-3)
    assert all(url.startswith("data:image/png;base64,") for url in table["Learned"])
    at.button(key="classify_send").click().run()  # the single-filter link still works
    assert at.selectbox(key="preset").value == "from_model"
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_uploads").set_value([("red.png", png((220, 40, 30)), "image/png")]).run()
    at.session_state["classify_inside_open"] = True
    at.run()
    at.button(key="classify_open_preset").click().run()
    assert not at.exception
    assert at.selectbox(key="preset").value == expected.name
    assert at.radio(key=f"size-{expected.name}").value == 3


def test_accuracy_against_epsilon_for_the_shipped_model_matches_the_library(shipped_models_copy, cifar_subset):
    """The button's chart and table hold adversarial.accuracy_curve's numbers on the first 256 test images."""
    import keras

    from app_pages.classify.probes import CURVE_IMAGES, EPSILONS
    from cnn_core.classify.adversarial import accuracy_curve
    from cnn_core.datasets.loading import load_dataset

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at = at.switch_page("app_pages/classify.py").run()
    at = at.file_uploader(key="classify_uploads").set_value([("red.png", png((220, 40, 30)), "image/png")]).run()
    at.session_state["probe_adversarial_open"] = True
    at = at.run()
    at.text_input(key="attack_data").set_value(str(cifar_subset))
    at = at.button(key="attack_curve").click().run()
    assert not at.exception, at.exception
    table = next(frame.value for frame in at.dataframe if "Epsilon (/255)" in frame.value.columns)
    dataset = load_dataset(cifar_subset)
    model = keras.saving.load_model(shipped_models_copy / "cifar10-subset-best" / "model.keras", safe_mode=True,
                                    compile=False)
    expected = accuracy_curve(model, dataset.x_test[:CURVE_IMAGES], dataset.y_test[:CURVE_IMAGES], EPSILONS, "fgsm")
    assert list(table["Epsilon (/255)"]) == list(EPSILONS)
    np.testing.assert_allclose(table["Test accuracy"], np.round(expected, 4), atol=1e-4)
    assert expected[-1] < expected[0]

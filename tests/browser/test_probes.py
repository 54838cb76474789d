"""The adversarial lab in Debian chromium, in English and Chinese, with the shipped model and a CIFAR-10 test photo.

With CNN_STUDIO_SCREENSHOTS=1 the English run also refreshes the README's picture, docs/adversarial-lab.png.
"""

from __future__ import annotations

import os

import pytest
from PIL import Image

from cnn_core.datasets.loading import load_dataset

from helpers.paths import PROJECT_ROOT

pytestmark = pytest.mark.browser

TIMEOUT_MS = 120_000  # first visit imports TensorFlow and loads the model on a shared 2-core machine
WORDS = {"en": ("Upload photos", "Adversarial lab", "Attack this photo", "Adversarial:"),
         "zh": ("上传照片", "对抗样本实验室", "攻击这张照片", "对抗样本：")}


def fooled_at_two(cifar_subset):
    """A test photo whose 128-pixel upload the shipped model gets right and FGSM at 2/255 turns (as the lab shows)."""
    import keras
    import numpy as np

    from cnn_core.classify.adversarial import explain_photo
    from cnn_core.classify.inference import prepare_image

    dataset = load_dataset(cifar_subset)
    model = keras.saving.load_model(PROJECT_ROOT / "models" / "cifar10-subset-best" / "model.keras",
                                    safe_mode=True, compile=False)
    for image, label in zip(dataset.x_test[:40], dataset.y_test[:40]):
        shown = prepare_image(Image.fromarray(image).resize((128, 128), Image.Resampling.LANCZOS))
        example = explain_photo(model, shown, "fgsm", 2)
        if int(np.argmax(example.before)) == label != int(np.argmax(example.after)):
            return image
    return dataset.x_test[0]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_adversarial_lab_attacks_an_uploaded_photo(streamlit_server, browser_page, app_dirs, tmp_path,
                                                       cifar_subset, language):
    photo = tmp_path / "photo.png"
    Image.fromarray(fooled_at_two(cifar_subset)).resize((128, 128), Image.Resampling.LANCZOS).save(photo)
    upload, lab, toggle, adversarial = WORDS[language]

    page = browser_page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{streamlit_server}/classify?lang={language}")
    page.get_by_text(upload).first.wait_for()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=upload)
    uploader.locator('input[type="file"]').set_input_files([str(photo)])
    expander = page.locator('[data-testid="stExpander"]').filter(has_text=lab)
    expander.get_by_text(lab).first.click()
    expander.get_by_text(toggle).click()
    expander.get_by_text(adversarial).first.wait_for()
    expander.locator(".katex").first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stExpander] img')]"
                           ".every(image => image.complete && image.naturalWidth > 0)")
    assert expander.locator('[data-testid="stImage"]').count() >= 3  # original, change, adversarial
    assert page.locator(".katex-error").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    keep = language == "en" and os.environ.get("CNN_STUDIO_SCREENSHOTS")
    target = PROJECT_ROOT / "docs" / "adversarial-lab.png" if keep else tmp_path / "lab.png"
    expander.scroll_into_view_if_needed()
    expander.screenshot(path=str(target))

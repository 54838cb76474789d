"""`python -m cnn_core robustness`: one JSON line per level; epsilon 0 is evaluate's accuracy without test-time flip."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnn_core.classify import probes
from cnn_core.cli import main as cli
from cnn_core.datasets.loading import load_dataset

MODEL = "cifar10-subset-best"
COUNT = 96  # test images scored: enough for the accuracy to move, quick on 2 cores


@pytest.fixture(scope="module")
def reference(cifar_subset):
    """The shipped model loaded straight with Keras, and the first COUNT test images."""
    from helpers.paths import PROJECT_ROOT

    dataset = load_dataset(cifar_subset)
    model = keras.saving.load_model(PROJECT_ROOT / "models" / MODEL / "model.keras", safe_mode=True, compile=False)
    return model, dataset.x_test[:COUNT], dataset.y_test[:COUNT]


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def test_fgsm_lines_start_at_the_clean_accuracy_and_fall(shipped_models_copy, cifar_subset, reference, capsys):
    assert cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset), "--attack", "fgsm",
                     "--epsilons", "0", "2", "8", "--max-images", str(COUNT)]) == 0
    rows = lines(capsys)
    assert [row["attack"] for row in rows] == ["fgsm"] * 3 and [row["level"] for row in rows] == [0.0, 2.0, 8.0]
    model, images, labels = reference
    clean = np.mean(np.argmax(keras.ops.convert_to_numpy(model(images.astype(np.float32), training=False)), axis=1) == labels)
    assert rows[0]["accuracy"] == pytest.approx(float(clean))
    assert rows[2]["accuracy"] < rows[1]["accuracy"] < rows[0]["accuracy"]
    # evaluate with the flip turned off agrees at epsilon 0
    metadata_path = shipped_models_copy / MODEL / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["config"]["test_time_flip"] = False
    metadata_path.write_text(json.dumps(metadata))
    assert cli.main(["evaluate", "--model", MODEL, "--data", str(cifar_subset), "--max-images", str(COUNT)]) == 0
    assert lines(capsys)[0]["accuracy"] == pytest.approx(rows[0]["accuracy"])


def test_perturbation_lines_match_perturbing_by_hand(shipped_models_copy, cifar_subset, reference, capsys):
    assert cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset), "--perturb", "brightness",
                     "--levels", "0", "100", "--max-images", str(COUNT)]) == 0
    rows = lines(capsys)
    assert [(row["perturb"], row["level"]) for row in rows] == [("brightness", 0.0), ("brightness", 100.0)]
    model, images, labels = reference
    brighter = np.clip(images.astype(np.float32) + 100, 0, 255)
    expected = np.mean(np.argmax(keras.ops.convert_to_numpy(model(brighter, training=False)), axis=1) == labels)
    assert rows[1]["accuracy"] == pytest.approx(float(expected))
    assert probes.RANGES["brightness"][3] == 0.0


def test_bad_arguments_exit_2(shipped_models_copy, cifar_subset, capsys):
    assert cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset), "--attack", "fgsm",
                     "--epsilons", "-3"]) == 2
    assert "Epsilon must be between" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exactly one of --attack / --perturb
        cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset)])


def test_jpeg_lines_match_pillows_round_trip_by_hand(shipped_models_copy, cifar_subset, reference, capsys):
    import io

    from PIL import Image

    assert cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset), "--perturb", "jpeg",
                     "--levels", "30", "--max-images", str(COUNT)]) == 0
    (row,) = lines(capsys)
    model, images, labels = reference
    compressed = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=30)
        compressed.append(np.array(Image.open(buffer)))
    predicted = np.argmax(keras.ops.convert_to_numpy(model(np.stack(compressed).astype(np.float32), training=False)), 1)
    assert (row["perturb"], row["level"]) == ("jpeg", 30.0)
    assert row["accuracy"] == pytest.approx(float(np.mean(predicted == labels)))


def test_the_suite_prints_one_line_per_corruption_then_the_mean_and_the_clean_accuracy(
        shipped_models_copy, cifar_subset, reference, capsys):
    from cnn_core.classify import corruptions

    assert cli.main(["robustness", "--model", MODEL, "--data", str(cifar_subset), "--suite",
                     "--max-images", str(COUNT)]) == 0
    rows = lines(capsys)
    assert [row["corruption"] for row in rows] == [*corruptions.NAMES, "mean", "clean"]
    assert [(row["perturb"], row["level"]) for row in rows[:5]] == [(c.kind, c.level) for c in corruptions.SUITE]
    assert all(row["test_images"] == COUNT for row in rows)
    model, images, labels = reference
    for row, corruption in zip(rows, corruptions.SUITE):  # each line: that corruption of every image, scored directly
        corrupted = np.stack([probes.perturb(image, corruption.kind, corruption.level, noise_seed=index)
                              for index, image in enumerate(images)]).astype(np.float32)
        predicted = np.argmax(keras.ops.convert_to_numpy(model(corrupted, training=False)), axis=1)
        assert row["accuracy"] == pytest.approx(float(np.mean(predicted == labels))), row
    assert rows[5]["accuracy"] == pytest.approx(np.mean([row["accuracy"] for row in rows[:5]]))
    clean = np.argmax(keras.ops.convert_to_numpy(model(images.astype(np.float32), training=False)), axis=1)
    assert rows[6]["accuracy"] == pytest.approx(float(np.mean(clean == labels)))
    assert rows[1]["accuracy"] < rows[6]["accuracy"]  # noise 8/255 costs the shipped model accuracy

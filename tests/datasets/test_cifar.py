"""cnn_core.datasets (cifar, folders, loading): the real CIFAR-10 subset, generated archives and folders."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import pickle
import subprocess
import sys
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import cifar as data_module
from cnn_core.datasets.base import DataError
from cnn_core.datasets.cifar import CIFAR10_CLASSES, download_cifar10
from cnn_core.datasets.loading import load_dataset

from helpers import class_folders
from helpers.class_folders import picture, write_tree
from helpers.paths import PROJECT_ROOT

# --- The real subset. ---


def test_cifar_subset_shapes_labels_and_pixels(cifar_subset):
    dataset = load_dataset(cifar_subset)
    assert dataset.x_train.shape == (5085, 32, 32, 3) and dataset.x_test.shape == (509, 32, 32, 3)
    assert dataset.x_train.dtype == np.uint8 and dataset.x_test.dtype == np.uint8
    assert dataset.y_train.dtype == np.int64 and dataset.y_train.shape == (5085,)
    assert set(np.unique(dataset.y_train)) == set(range(10)) and dataset.y_test.max() <= 9
    assert dataset.class_names == CIFAR10_CLASSES
    assert dataset.source.startswith("CIFAR-10 subset at ") and "5,085 train / 509 test" in dataset.source
    # Named by its folder, never by the server path to it (a shared server's visitors read this).
    assert dataset.about.text("zh") == "CIFAR-10 子集，位于 cifar-10-batches-py（训练 5,085 张 / 测试 509 张）"
    # Reference: the raw pickle rows, read independently.
    for name, images, labels, offset in [("data_batch_1", dataset.x_train, dataset.y_train, 0),
                                         ("data_batch_2", dataset.x_train, dataset.y_train, 1017),
                                         ("test_batch", dataset.x_test, dataset.y_test, 0)]:
        with open(cifar_subset / name, "rb") as handle:
            raw = pickle.load(handle, encoding="bytes")
        row = raw[b"data"][0]
        np.testing.assert_array_equal(images[offset][..., 0], row[:1024].reshape(32, 32))  # red plane
        np.testing.assert_array_equal(images[offset][..., 2], row[2048:].reshape(32, 32))  # blue plane
        assert labels[offset] == raw[b"labels"][0]
    # The folder's parent works too.
    assert load_dataset(cifar_subset.parent).source == dataset.source


# --- Generated CIFAR batches: folder, tar.gz, hostile pickles. ---


def write_batches(folder: Path, rows: dict[str, int], seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Tiny CIFAR-format batches (no `filenames` key, like the shared subset); returns the raw rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written = {}
    for name, count in rows.items():
        pixels = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = [int(label) for label in rng.integers(0, 10, size=count)]
        with open(folder / name, "wb") as handle:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": pixels}, handle, protocol=2)
        written[name] = (pixels, labels)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [name.encode() for name in CIFAR10_CLASSES]}, handle)
    return written


def make_archive(tmp_path: Path) -> tuple[Path, dict]:
    written = write_batches(tmp_path / "cifar-10-batches-py", {"data_batch_1": 3, "data_batch_2": 2, "test_batch": 4})
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive, written


def check_tiny(dataset, written):
    train_pixels = np.concatenate([written["data_batch_1"][0], written["data_batch_2"][0]])
    assert dataset.x_train.shape == (5, 32, 32, 3) and dataset.x_test.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(dataset.x_train.transpose(0, 3, 1, 2).reshape(5, 3072), train_pixels)
    assert list(dataset.y_train) == written["data_batch_1"][1] + written["data_batch_2"][1]
    assert list(dataset.y_test) == written["test_batch"][1]


def test_tar_gz_and_folder_of_tiny_batches(tmp_path):
    archive, written = make_archive(tmp_path)
    from_archive = load_dataset(archive)
    check_tiny(from_archive, written)
    assert "5 train / 4 test" in from_archive.source
    check_tiny(load_dataset(tmp_path / "cifar-10-batches-py"), written)


def test_hostile_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = tmp_path / "batches"
    write_batches(folder, {"data_batch_1": 2, "test_batch": 2})
    with open(folder / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Exploit(), b"labels": [0]}, handle)
    with pytest.raises(DataError, match="data_batch_1"):
        load_dataset(folder)
    assert not marker.exists()


def test_missing_path_and_wrong_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="neither"):
        load_dataset(tmp_path / "notes.txt")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(DataError, match="not a readable .zip"):
        load_dataset(tmp_path / "broken.zip")


# --- The download (monkeypatched: this machine cannot reach the internet). ---


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_constants_match_keras_source():
    source = Path(importlib.util.find_spec("keras").submodule_search_locations[0], "src", "datasets", "cifar10.py")
    text = source.read_text()
    assert data_module.CIFAR10_URL in text and data_module.CIFAR10_SHA256 in text
    assert 'dirname = "cifar-10-batches-py-target"' in text  # Keras saves "<dirname>_archive"


def test_download_reports_progress_and_uses_the_keras_cache(tmp_path, monkeypatch):
    archive, written = make_archive(tmp_path / "source")
    payload = archive.read_bytes()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data_module, "CIFAR10_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(data_module, "DOWNLOAD_CHUNK", 100)
    calls = []
    monkeypatch.setattr(data_module.urllib.request, "urlopen", lambda url, timeout: calls.append(url) or FakeResponse(payload))
    reports = []
    dataset = load_dataset(None, progress=lambda done, total: reports.append((done, total)))
    check_tiny(dataset, written)
    assert dataset.source.startswith("CIFAR-10 (official download")
    assert calls == [data_module.CIFAR10_URL]
    assert reports[0] == (0, len(payload)) and reports[-1] == (len(payload), len(payload))
    assert [done for done, _ in reports] == sorted(done for done, _ in reports) and len(reports) > 3
    cached = tmp_path / "keras" / "datasets" / "cifar-10-batches-py-target_archive"
    assert cached.read_bytes() == payload
    load_dataset("cifar10")  # second time: from the cache, no download
    assert len(calls) == 1


def test_download_uses_a_folder_keras_already_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    written = write_batches(tmp_path / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                            {"data_batch_1": 3, "data_batch_2": 2, "test_batch": 4})
    monkeypatch.setattr(data_module.urllib.request, "urlopen", lambda *args, **kwargs: pytest.fail("downloaded"))
    check_tiny(load_dataset(None), written)


def test_offline_and_corrupt_downloads_raise_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # A real connection attempt to a closed loopback port: fails at once, like being offline.
    with pytest.raises(DataError, match="Could not download CIFAR-10 .*internet connection"):
        download_cifar10(url="http://127.0.0.1:9/cifar-10-python.tar.gz", timeout=5)

    def no_network(url, timeout):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(data_module.urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match="name resolution"):
        load_dataset(None)
    monkeypatch.setattr(data_module.urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"truncated"))
    with pytest.raises(DataError, match="corrupted"):
        load_dataset("cifar10")
    assert list((tmp_path / "datasets").iterdir()) == []  # no partial file left behind


# --- Class folders and zips. ---

COLOURS = {"birds": (200, 30, 30), "cats": (30, 200, 30), "dogs": (30, 30, 200)}


def class_files(per_class: int = 5) -> dict[str, bytes]:
    """Relative path -> bytes: PNG and JPEG images of three solid-coloured classes."""
    return class_folders.class_files(COLOURS, per_class, size=(40, 24), mixed=True)


# Stored (uncompressed) members here; tests/datasets/test_folders.py writes deflated ones.
write_zip = functools.partial(class_folders.write_zip, compression=zipfile.ZIP_STORED)


def check_colours(dataset):
    for images, labels in ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)):
        for image, label in zip(images, labels):
            expected = COLOURS[dataset.class_names[label]]
            assert np.abs(image.astype(int) - expected).max() <= 8  # JPEG wobble


def test_class_folders_with_stratified_validation(tmp_path):
    files = class_files(per_class=5)
    files["cats/broken.png"] = b"\x89PNG not really an image"
    files["readme.txt"] = b"ignored"
    dataset = load_dataset(write_tree(tmp_path / "pets", files), validation_fraction=0.4, seed=1)
    assert dataset.class_names == ["birds", "cats", "dogs"]
    assert dataset.x_train.shape == (9, 32, 32, 3) and dataset.x_train.dtype == np.uint8
    assert dataset.y_train.dtype == np.int64
    assert np.bincount(dataset.y_test).tolist() == [2, 2, 2]  # 40 % of each class
    check_colours(dataset)
    assert dataset.skipped_files == ["cats/broken.png"]
    assert "1 unreadable image(s) skipped: cats/broken.png" in dataset.source
    assert "3 class folders" in dataset.source and "9 train / 6 test, drawn per class" in dataset.source
    assert dataset.about.text("zh").endswith("（训练 9 张 / 测试 6 张，按类别抽取）；跳过了 1 张无法读取的图片：cats/broken.png")
    other_seed = load_dataset(tmp_path / "pets", validation_fraction=0.4, seed=2)
    assert not np.array_equal(other_seed.x_test, dataset.x_test) or not np.array_equal(other_seed.x_train, dataset.x_train)


def test_a_public_server_reads_typed_paths_only_inside_its_data_roots(tmp_path, monkeypatch):
    allowed = write_tree(tmp_path / "allowed" / "pets", class_files(per_class=2))
    outside = write_tree(tmp_path / "private" / "pets", class_files(per_class=2))
    (tmp_path / "allowed" / "link").symlink_to(outside, target_is_directory=True)
    app_data = write_tree(tmp_path / "app-data" / "uploads" / "pets", class_files(per_class=2))
    assert len(load_dataset(outside).y_train) > 0  # without the setting, any readable folder (a desktop)
    monkeypatch.setenv("CNN_STUDIO_DATA_ROOTS", str(tmp_path / "allowed"))
    monkeypatch.setenv("CNN_STUDIO_DATA_DIR", str(tmp_path / "app-data"))
    assert load_dataset(allowed).class_names == ["birds", "cats", "dogs"]
    assert load_dataset(app_data).class_names == ["birds", "cats", "dogs"]  # the app's own uploads
    for refused in (outside, tmp_path / "allowed" / "link", tmp_path / "allowed" / ".." / "private" / "pets",
                    tmp_path / "private" / "no-such-folder", Path("/usr")):
        with pytest.raises(DataError) as caught:  # the same answer whether or not the path exists
            load_dataset(refused)
        assert caught.value.key == "errors.data.outside_data_roots" and "administrator" in str(caught.value)
        assert "管理员" in caught.value.text("zh")


def test_non_square_images_are_centre_cropped_and_alpha_goes_on_white(tmp_path):
    wide = Image.new("RGB", (64, 32), (255, 0, 0))
    wide.paste((0, 255, 0), (16, 0, 48, 32))  # only the centre square is green
    buffer = io.BytesIO()
    wide.save(buffer, format="PNG")
    files = {"a/wide.png": buffer.getvalue(), "b/clear.png": picture((0, 0, 0, 0), (10, 10), mode="RGBA")}
    dataset = load_dataset(write_tree(tmp_path / "root", files), validation_fraction=0.0)
    images = dict(zip((dataset.class_names[label] for label in dataset.y_train), dataset.x_train))
    np.testing.assert_array_equal(images["a"], np.broadcast_to(np.array([0, 255, 0], np.uint8), (32, 32, 3)))
    np.testing.assert_array_equal(images["b"], np.full((32, 32, 3), 255, np.uint8))


def test_zip_equals_folder_and_split_folders_are_used(tmp_path):
    files = class_files(per_class=4)
    from_folder = load_dataset(write_tree(tmp_path / "tree", files))
    wrapped = {f"flowers/{name}": content for name, content in files.items()}
    wrapped["__MACOSX/flowers/._x.png"] = b"resource fork"
    from_zip = load_dataset(write_zip(tmp_path / "flowers.zip", wrapped))
    np.testing.assert_array_equal(from_zip.x_train, from_folder.x_train)
    np.testing.assert_array_equal(from_zip.y_test, from_folder.y_test)
    assert from_zip.class_names == from_folder.class_names and from_zip.skipped_files == []
    split = {f"train/{name}": content for name, content in files.items()}
    split.update({f"val/{name}": content for name, content in list(files.items())[::4]})
    dataset = load_dataset(write_zip(tmp_path / "split.zip", split))
    assert len(dataset.y_train) == 12 and len(dataset.y_test) == 3 and "test)" in dataset.source
    check_colours(dataset)


@pytest.mark.parametrize("evil_name", ["../evil.png", "/tmp/evil_abs.png", "ok/../../evil.png", "C:/evil.png"])
def test_zip_with_path_traversal_is_refused(tmp_path, evil_name, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    files = class_files(per_class=2)
    files[evil_name] = picture((1, 2, 3), (40, 24))
    before = set(tmp_path.rglob("*"))
    with pytest.raises(DataError, match="unsafe path"):
        load_dataset(write_zip(tmp_path / "evil.zip", files))
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "evil.zip"}  # nothing extracted anywhere
    assert not Path("/tmp/evil_abs.png").exists() and not (tmp_path / "evil.png").exists()


def test_bad_class_folders_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="only one class|Only one class"):
        load_dataset(write_tree(tmp_path / "one", {f"cats/{i}.png": picture((9, 9, 9), (40, 24)) for i in range(3)}))
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(DataError, match="No .png or .jpg images"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="No .png or .jpg images"):
        load_dataset(write_zip(tmp_path / "empty.zip", {"notes.txt": b"x"}))
    corrupt = {"a/1.png": b"junk", "b/2.jpg": b"\xff\xd8junk"}
    with pytest.raises(DataError, match=r"2 unreadable"):
        load_dataset(write_tree(tmp_path / "corrupt", corrupt))
    with pytest.raises(DataError, match="validation fraction"):
        load_dataset(tmp_path / "corrupt", validation_fraction=1.5)


# --- No TensorFlow on import. ---


def test_importing_datasets_does_not_import_tensorflow():
    code = (
        "import sys, cnn_core.datasets.base, cnn_core.datasets.cifar, cnn_core.datasets.folders, cnn_core.datasets.loading\n"
        "heavy = [name for name in ('tensorflow', 'keras') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True, timeout=60)

"""Dataset intake counts pixels, not bytes: a small zip of huge flat images is refused before it costs minutes,
and paths the system refuses (a 300-character name, the kernel's files) are DataErrors, not tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnn_core.datasets import folders
from cnn_core.datasets.base import DataError
from cnn_core.datasets.loading import load_dataset

from helpers.class_folders import class_files, picture, write_zip

COLOURS = {"cats": (200, 30, 30), "dogs": (30, 200, 30)}


def test_an_image_over_the_pixel_limit_is_skipped_without_decoding(tmp_path, monkeypatch):
    decoded = []
    real_decode = folders._decode
    monkeypatch.setattr(folders, "_decode", lambda data: decoded.append(len(data)) or real_decode(data))
    huge = picture(0, size=(5000, 4000), mode="1")  # 20 megapixels in a few kilobytes
    files = {**class_files(COLOURS, 3), "cats/huge.png": huge}
    dataset = load_dataset(write_zip(tmp_path / "data.zip", files))
    assert dataset.skipped_files == ["cats/huge.png"]
    assert len(decoded) == 6 and len(huge) not in decoded  # the six small ones only


def test_a_dataset_over_the_pixel_budget_is_refused_early(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "MAX_DATASET_PIXELS", 12 * 10 * 4)  # four of the 12x10 pictures
    decoded = []
    real_decode = folders._decode
    monkeypatch.setattr(folders, "_decode", lambda data: decoded.append(1) or real_decode(data))
    with pytest.raises(DataError) as caught:
        load_dataset(write_zip(tmp_path / "data.zip", class_files(COLOURS, 50)))
    assert caught.value.reason == "too_many_pixels" and len(decoded) == 4  # stopped at the fifth picture
    assert "megapixels" in str(caught.value)


def test_a_path_with_a_300_character_name_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset(str(tmp_path / ("x" * 300)))
    assert caught.value.reason == "unreadable_path" and "too long" in str(caught.value).lower()


@pytest.mark.parametrize("path", ["/proc/self/mem", "/proc/self/status", "/sys/kernel", "/dev/zero"])
def test_the_kernels_files_are_not_datasets(path):
    if not Path(path).exists():
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(DataError) as caught:
        load_dataset(path)
    assert caught.value.reason == "not_file_or_folder"

"""cnn_core.datasets.uploads: uploaded datasets are stored by content, inside the data folder, and pruned."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from cnn_core.datasets import uploads


def test_store_upload_is_content_addressed_and_stays_in_data_dir(app_dirs):
    first = uploads.store_upload("../../evil name.zip", b"PK zip bytes")
    assert first.parent == app_dirs["data"] / "uploads" and first.name.endswith("-evil_name.zip")
    assert first.read_bytes() == b"PK zip bytes"
    assert uploads.store_upload("other.zip", b"PK zip bytes").read_bytes() == b"PK zip bytes"
    assert uploads.store_upload("../../evil name.zip", b"PK zip bytes") == first
    assert not list(first.parent.glob(".*"))  # no temp file left behind


def test_store_upload_keeps_only_the_newest_uploads(app_dirs):
    stored = []
    for index in range(uploads.KEPT_UPLOADS + 3):
        path = uploads.store_upload(f"set{index}.zip", f"PK {index}".encode())
        os.utime(path, (1_000_000 + index, 1_000_000 + index))  # distinct ages, oldest first
        stored.append(path)
    left = sorted((app_dirs["data"] / "uploads").iterdir())
    assert len(left) == uploads.KEPT_UPLOADS
    assert set(left) == set(stored[-uploads.KEPT_UPLOADS:])  # the oldest three are gone


def test_an_upload_in_use_lately_is_kept_however_many_come_after_it(app_dirs):
    """A class uploads the teacher's zip, then ten students their own: the shared zip, re-uploaded (or simply
    recent), stays for the runs queued on it; only uploads unused for KEPT_SECONDS make room."""
    shared = uploads.store_upload("class.zip", b"PK shared")
    os.utime(shared, (1_000_000, 1_000_000))  # stored long ago ...
    assert uploads.store_upload("class.zip", b"PK shared") == shared  # ... and uploaded again now: in use
    for index in range(uploads.KEPT_UPLOADS + 2):
        uploads.store_upload(f"own{index}.zip", f"PK {index}".encode())
    left = set((app_dirs["data"] / "uploads").iterdir())
    assert shared in left and len(left) == uploads.KEPT_UPLOADS + 3  # nothing recent pruned


def test_a_broken_upload_is_named_as_the_visitor_named_it(app_dirs):
    from cnn_core.datasets.base import DataError
    from cnn_core.datasets.loading import load_dataset

    for content, words in ((b"not a zip at all", "is not a readable .zip file"),
                           (None, "contains an unsafe path")):
        if content is None:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("../evil.png", b"x")
            content = buffer.getvalue()
        stored = uploads.store_upload("class pets.zip", content)
        with pytest.raises(DataError) as refused:
            load_dataset(str(stored))
        assert words in str(refused.value) and str(refused.value).startswith("class_pets.zip ")
        assert stored.name.split("-")[0] not in str(refused.value)  # never the stored name's content hash

"""The training page's dataset summary, shared by every visitor: computed once, never replayed into a page."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnn_core.datasets import summary
from cnn_core.datasets.base import DataError
from cnn_core.datasets.loading import load_dataset

from helpers.class_folders import class_files, write_zip


@pytest.fixture(autouse=True)
def fresh():
    summary.forget_all()
    yield
    summary.forget_all()


def test_the_summary_matches_the_dataset_itself(cifar_subset):
    info = summary.summarize(str(cifar_subset))
    dataset = load_dataset(cifar_subset)
    assert (info["train"], info["test"], info["classes"]) == (5085, 509, dataset.class_names)
    picks = np.linspace(0, 5084, 8).astype(int)
    np.testing.assert_array_equal(info["samples"], dataset.x_train[picks])


def test_two_visitors_at_once_decode_the_zip_once_and_only_the_decoder_sees_progress(tmp_path):
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": (200, 0, 0), "dogs": (0, 200, 0)}, 20))
    calls = {"first": 0, "second": 0}
    results = {}
    start = threading.Barrier(2)

    def visit(who: str) -> None:
        start.wait()
        results[who] = summary.summarize(str(archive), lambda done, total: calls.__setitem__(who, calls[who] + 1))

    threads = [threading.Thread(target=visit, args=(who,)) for who in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results["first"] is results["second"]  # one computation, handed to both
    assert sorted(calls.values())[0] == 0 and sorted(calls.values())[1] > 0  # the waiting visitor drew nothing
    assert summary.summarize(str(archive), lambda done, total: pytest.fail("recomputed")) is results["first"]


def test_a_changed_file_is_read_again_and_an_unreadable_one_is_never_kept(tmp_path):
    archive = write_zip(tmp_path / "pets.zip", class_files({"cats": (200, 0, 0), "dogs": (0, 200, 0)}, 3))
    assert summary.summarize(str(archive))["classes"] == ["cats", "dogs"]
    write_zip(archive, class_files({"cats": (200, 0, 0), "dogs": (0, 200, 0), "eels": (0, 0, 200)}, 4))
    assert summary.summarize(str(archive))["classes"] == ["cats", "dogs", "eels"]
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    for _ in range(2):  # an error is raised each time, not remembered as a result
        with pytest.raises(DataError):
            summary.summarize(str(broken))
    assert len(summary._KEPT) == 2 and len(summary._LOCKS) == 2

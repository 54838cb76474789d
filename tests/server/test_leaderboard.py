"""Class results: finished runs of one dataset, best first, hideable; and who may do what in public mode."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from cnn_core.server import leaderboard, owners
from cnn_core.training import runs
from cnn_core.training.config import TrainConfig, parameter_count


def finished_run(config: TrainConfig, accuracy: float, seconds: float, *, source="CIFAR-10 subset", owner="a",
                 state="finished", display_name="") -> str:
    run_id = runs.create_run(config.to_dict(), {"data": None, "model_name": f"m{accuracy}"}, state=state,
                             owner=owner, display_name=display_name, test_accuracy=accuracy, data_source=source)
    runs.append_event(run_id, {"type": "finish", "test_accuracy": accuracy, "seconds": seconds,
                               "images_per_second": 1000.0 / seconds, "per_class_accuracy": {"x": 1, "y": 0}})
    return run_id


def test_rows_rank_by_accuracy_then_speed_per_dataset(app_dirs):
    small, wide = TrainConfig(filters=[4]), TrainConfig(filters=[8, 16], epochs=3)
    slow = finished_run(small, 0.6, 50.0, display_name="Ann")
    fast = finished_run(wide, 0.6, 20.0, owner="b")
    best = finished_run(small, 0.7, 90.0, owner="c")
    finished_run(small, 0.9, 10.0, source="my flowers")
    runs.create_run(small.to_dict(), {"data": None, "model_name": "q"}, state="queued", owner="d")
    board = leaderboard.rows("CIFAR-10 subset")
    assert [row["run_id"] for row in board] == [best, fast, slow]
    assert board[2]["display_name"] == "Ann" and board[1]["display_name"] == "b"  # owner key when no name
    assert board[1]["params"] == parameter_count(wide, 2) and board[1]["images_per_second"] == 50.0
    assert TrainConfig.from_query_params({k: v[0] for k, v in parse_qs(board[1]["link"]).items()}) == wide
    assert leaderboard.data_sources() == ["CIFAR-10 subset", "my flowers"]
    leaderboard.set_hidden(best, True)
    assert [row["run_id"] for row in leaderboard.rows("CIFAR-10 subset")] == [fast, slow]
    assert json.loads((app_dirs["runs"] / best / "leaderboard.json").read_text()) == {"hidden": True}
    assert runs.read_status(best)["state"] == "finished"  # status.json untouched


def test_public_mode_permissions(monkeypatch):
    alice, bob, teacher = owners.Visitor("alice"), owners.Visitor("bob"), owners.Visitor("t", admin=True)
    run, shared, private = {"owner": "alice"}, {"name": "x", "owner": "alice", "shared": True}, {"name": "y",
                                                                                                "owner": "alice"}
    shipped = {"name": "cifar10-subset-best"}
    assert owners.may_manage(run, bob)  # a desktop: everyone may do everything
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    assert owners.may_manage(run, alice) and owners.may_manage(run, teacher) and not owners.may_manage(run, bob)
    assert not owners.may_manage({"owner": None}, bob)  # ownerless records are the teacher's
    assert not owners.may_see_report(run, bob)
    assert [m["name"] for m in owners.visible_models([shared, private, shipped], bob)] == ["x", "cifar10-subset-best"]
    assert len(owners.visible_models([shared, private, shipped], alice)) == 3

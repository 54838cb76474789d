"""Class results: finished runs of one dataset, best first, hideable; and who may do what in public mode."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from cnn_core.server import leaderboard, owners
from cnn_core.training import runs
from cnn_core.training.config import TrainConfig
from cnn_core.training.layers import parameter_count


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


def saved_model(models_dir, name: str, owner: str | None, shared: bool = False, run_id: str | None = None) -> None:
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not read here")
    (folder / "metadata.json").write_text(json.dumps({"name": name, "owner": owner, "shared": shared,
                                                      "run_id": run_id, "created": f"2026-01-01T00:00:0{len(name) % 10}"}))


def test_every_listing_and_opening_of_models_goes_through_one_rule(app_dirs, monkeypatch):
    import pytest

    from cnn_core.models import registry

    saved_model(app_dirs["models"], "alices-secret", "alice")
    saved_model(app_dirs["models"], "alices-shared", "alice", shared=True)
    bob, alice = owners.Visitor("bob"), owners.Visitor("alice")
    assert len(owners.models_for(bob)) == 2  # a desktop: every model
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    assert [model["name"] for model in owners.models_for(bob)] == ["alices-shared"]
    assert {model["name"] for model in owners.models_for(alice)} == {"alices-secret", "alices-shared"}
    with pytest.raises(registry.RegistryError) as hidden:
        owners.model_metadata_for("alices-secret", bob)
    with pytest.raises(registry.RegistryError) as absent:
        owners.model_metadata_for("nobodys", bob)
    assert str(hidden.value) == str(absent.value).replace("nobodys", "alices-secret")  # the same words: no hint
    with pytest.raises(registry.RegistryError):
        owners.load_model_for("alices-secret", bob)  # refused before the file is opened
    assert owners.may_manage_model("alices-secret", alice) and not owners.may_manage_model("alices-shared", bob)
    assert not owners.may_manage_model("nobodys", alice)


def test_a_download_drawn_while_a_model_was_shared_is_refused_once_it_is_private(app_dirs, monkeypatch):
    import pytest

    from cnn_core.models import registry

    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    saved_model(app_dirs["models"], "carols", "carol", shared=True)
    bob, carol = owners.Visitor("bob"), owners.Visitor("carol")
    bobs_button, carols_button = (owners.made_for(who, registry.model_bytes, "carols") for who in (bob, carol))
    assert bobs_button() == b"not read here"  # while shared
    registry.set_shared("carols", False)  # Carol makes it private; Bob's page still shows the button
    with pytest.raises(registry.RegistryError):
        bobs_button()
    assert carols_button() == b"not read here"
    registry.delete_model("carols")
    with pytest.raises(registry.RegistryError):
        carols_button()


def test_class_results_link_settings_only_of_ones_own_runs_or_shared_models(app_dirs, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    config = TrainConfig(filters=[4])
    shared_run = finished_run(config, 0.7, 10.0, owner="alice")
    private_run = finished_run(config, 0.6, 10.0, owner="alice")
    saved_model(app_dirs["models"], "m0-7", "alice", shared=True, run_id=shared_run)  # the registry name of "m0.7"
    saved_model(app_dirs["models"], "m0-6", "alice", run_id=private_run)
    rows = {row["run_id"]: row for row in leaderboard.rows()}
    bob = owners.Visitor("bob")
    assert owners.may_see_settings(rows[shared_run], bob) and not owners.may_see_settings(rows[private_run], bob)
    assert owners.may_see_settings(rows[private_run], owners.Visitor("alice"))
    cli = finished_run(config, 0.5, 10.0, owner=None)  # `python -m cnn_core train`: no owner, no name
    assert next(row for row in leaderboard.rows() if row["run_id"] == cli)["display_name"] is None

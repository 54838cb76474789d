"""Public mode through AppTest: each visitor is an owner; others' models and reports stay theirs; teachers manage."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import paths
from cnn_core.training import runs
from cnn_core.training.config import TrainConfig

from helpers.paths import APP, PROJECT_ROOT

SHIPPED = "cifar10-subset-best"


def write_model(models_dir: Path, name: str, owner: str | None, shared: bool = False) -> None:
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not a real model")
    (folder / "metadata.json").write_text(json.dumps({
        "name": name, "config": TrainConfig(filters=[8]).to_dict(), "class_names": ["a", "b"], "test_accuracy": 0.5,
        "created": "2026-01-01T10:00:00", "owner": owner, "shared": shared}))


def fingerprints(models_dir: Path) -> dict[str, str]:
    return {str(path.relative_to(models_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(models_dir.rglob("*")) if path.is_file()}


@pytest.fixture()
def public(app_dirs, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    shutil.copytree(PROJECT_ROOT / "models" / SHIPPED, app_dirs["models"] / SHIPPED)
    write_model(app_dirs["models"], "bobs-shared", "anon-bob", shared=True)
    write_model(app_dirs["models"], "bobs-secret", "anon-bob")
    return app_dirs


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def test_a_visitor_sees_shared_models_only_and_cannot_delete_the_shipped_or_anothers(public):
    before = fingerprints(public["models"])
    at = open_page("app_pages/models.py")
    visitor = at.session_state["_visitor"]
    assert visitor.owner.startswith("anon-") and len(visitor.owner) == 29 and not visitor.admin
    assert at.text_input(key="display_name").value == f"student-{visitor.owner[-4:]}"
    assert sorted(at.selectbox(key="registry_model").options) == ["bobs-shared", SHIPPED]  # not bobs-secret
    at.selectbox(key="registry_model").set_value(SHIPPED).run()
    assert any("Ships with CNN Studio" in caption.value for caption in at.caption)
    assert not [button for button in at.button if button.key == "delete_model"]
    at.session_state["confirm_delete"] = SHIPPED  # a crafted session state: nothing to confirm with
    at.run()
    assert not [button for button in at.button if button.key == "confirm_delete_yes"]
    at.selectbox(key="registry_model").set_value("bobs-shared").run()
    assert any("only its owner or a teacher" in caption.value for caption in at.caption)
    assert fingerprints(public["models"]) == before


def test_the_owner_deletes_their_own_model_but_never_the_shipped_one(public):
    at = open_page("app_pages/models.py")
    owner = at.session_state["_visitor"].owner
    write_model(public["models"], "mine", owner)
    at.run()
    at.selectbox(key="registry_model").set_value("mine").run()
    at.button(key="delete_model").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert not (public["models"] / "mine").exists()


def test_the_owner_renames_their_own_model_and_nobody_renames_anothers(public):
    at = open_page("app_pages/models.py")
    owner = at.session_state["_visitor"].owner
    write_model(public["models"], "mine", owner)
    at.run()
    at.selectbox(key="registry_model").set_value("bobs-shared").run()
    assert not [box for box in at.text_input if box.key.startswith("rename_to_")]  # Bob's: no rename
    at.selectbox(key="registry_model").set_value("mine").run()
    at.text_input(key="rename_to_mine").set_value("bobs-shared").run()
    at.button(key="rename_model").click().run()  # a taken name: refused, both kept
    assert any("already a saved model named 'bobs-shared'" in warning.value for warning in at.warning)
    assert (public["models"] / "mine").is_dir()
    at.text_input(key="rename_to_mine").set_value("My Best").run()
    at.button(key="rename_model").click().run()
    assert not (public["models"] / "mine").exists() and (public["models"] / "my-best").is_dir()
    assert at.selectbox(key="registry_model").value == "my-best"  # the page follows the model to its new name


def test_the_runs_tab_lists_a_visitors_own_runs_and_a_teacher_every_run(public, monkeypatch):
    config = TrainConfig(filters=[4])
    bobs = runs.create_run(config.to_dict(), {"data": None, "model_name": "bobs-secret-plan"}, state="finished",
                           owner="anon-bob", data_source="secret photos", test_accuracy=0.5)
    at = open_page("app_pages/training.py")
    mine = runs.create_run(config.to_dict(), {"data": None, "model_name": "mine"}, state="finished",
                           owner=at.session_state["_visitor"].owner, test_accuracy=0.25)
    at.run()
    listed = next(frame.value for frame in at.dataframe if "run" in frame.value.columns)
    assert list(listed["run"]) == [mine] and list(listed["test_accuracy"]) == [25.0]
    assert [option.split(" · ")[:2] for option in at.selectbox(key="open_run").options] == [[mine, "mine"]]
    page_text = " ".join(str(element.value) for element in (*at.markdown, *at.info, *at.caption, *at.selectbox))
    assert "bobs-secret-plan" not in page_text and "secret photos" not in page_text and bobs not in page_text
    monkeypatch.setenv("admin_password", "unused")  # a teacher sees every run, Bob's report included
    at.run()
    at.text_input(key="admin_password_input").set_value("unused").run()
    assert sorted(next(frame.value for frame in at.dataframe if "run" in frame.value.columns)["run"]) == sorted([mine, bobs])


def test_a_typed_path_outside_the_data_folder_is_refused(public, cifar_subset, monkeypatch):
    from cnn_core.datasets import summary

    monkeypatch.delenv("CNN_STUDIO_PUBLIC")
    summary.summarize(str(cifar_subset))  # a summary kept server-wide (read off public mode): no way around the roots
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setattr(paths, "SHARED_SUBSET", cifar_subset)  # as on a development checkout
    at = open_page("app_pages/training.py")
    # The page opens on what this server lets a visitor use (the download), never on a refused folder.
    assert at.radio(key="data_kind").value == "download" and not at.error
    at.radio(key="data_kind").set_value("path").run()
    at.text_input(key="data_path").set_value(str(cifar_subset)).run()
    assert any("outside" in error.value or "administrator" in error.value for error in at.error)
    assert at.button(key="train").disabled is True


def test_a_folder_in_the_servers_data_roots_is_offered_first(public, cifar_subset, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DATA_ROOTS", str(cifar_subset.parent))
    monkeypatch.setattr(paths, "SHARED_SUBSET", cifar_subset)
    at = open_page("app_pages/training.py")
    assert (at.radio(key="data_kind").value, at.text_input(key="data_path").value) == ("path", str(cifar_subset))
    assert not at.error and at.button(key="train").disabled is False


def test_the_teacher_password_makes_an_admin(public, monkeypatch):
    monkeypatch.setenv("admin_password", "unused")  # secrets come from files; the environment wins per key
    at = open_page("app_pages/models.py")
    at.text_input(key="admin_password_input").set_value("wrong").run()
    assert not at.session_state["_visitor"].admin
    at.text_input(key="admin_password_input").set_value("unused").run()
    assert at.session_state["_visitor"].admin
    assert "bobs-secret" in at.selectbox(key="registry_model").options


def test_anothers_private_model_is_not_listed_on_the_classify_page_nor_loaded_when_forced(public, monkeypatch):
    from cnn_core.server import owners

    at = open_page("app_pages/classify.py")
    assert sorted(classify_names(at)) == ["bobs-shared", SHIPPED]
    loaded = []
    monkeypatch.setattr(owners, "load_model_for", lambda name, who: loaded.append(name))
    at.session_state["classify_model"] = "bobs-secret"  # a crafted session state
    try:
        at.run()
    except ValueError:  # AppTest cannot show a value that is not among the options; the page itself ran
        pass
    assert "bobs-secret" not in loaded and not at.exception
    text = " ".join(item.value for kind in (at.markdown, at.caption, at.error, at.info) for item in kind)
    assert "bobs-secret" not in text


def classify_names(at) -> list[str]:
    """The classify picker's model names (its options are labels "name · accuracy · ...")."""
    return [option.split(" · ")[0] for option in at.selectbox(key="classify_model").options]


def test_the_compare_tab_lists_only_runs_whose_reports_the_visitor_may_see(public):
    config = TrainConfig(filters=[4])
    for owner in ("anon-bob", "anon-bob"):
        run_id = runs.create_run(config.to_dict(), {"data": None, "model_name": "x"}, state="finished", owner=owner,
                                 test_accuracy=0.5)
        runs.append_event(run_id, {"type": "finish", "test_accuracy": 0.5, "per_class_accuracy": {"a": 0.5}})
    at = open_page("app_pages/training.py")
    assert not [box for box in at.multiselect if box.key == "compare_runs"]  # none of them are this visitor's
    assert any("Compare needs two finished runs" in info.value for info in at.info)


def open_as(owner_key: str | None, page: str) -> AppTest:
    """A new session (a reload, another tab) of the browser whose owner-key cookie is `owner_key` (None: a new one)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "en"
    if owner_key:
        at.session_state["_owner_key"] = owner_key  # what identity.py reads back from the cookie
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def test_after_a_reload_the_name_a_visitor_trained_under_is_theirs_again(public):
    from cnn_core.server import queue
    from cnn_core.training import launch

    first = open_as(None, "app_pages/training.py")
    key, owner = first.session_state["_owner_key"], first.session_state["_visitor"].owner
    first.text_input(key="display_name").set_value("Ann Lee").run()
    config = TrainConfig(filters=[4])
    queue.submit(config, launch.make_request(config, None, "mine"), owner=owner, display_name="Ann Lee")
    reloaded = open_as(key, "app_pages/training.py")  # a new session of the same browser
    assert reloaded.text_input(key="display_name").value == "Ann Lee"
    assert open_as(None, "app_pages/training.py").text_input(key="display_name").value.startswith("student-")


def test_after_a_reload_the_owner_finds_their_queued_run_with_its_cancel_button_and_nobody_else_does(public):
    from cnn_core.server import queue
    from cnn_core.training import launch

    first = open_as(None, "app_pages/training.py")
    key, owner = first.session_state["_owner_key"], first.session_state["_visitor"].owner
    config = TrainConfig(filters=[4])
    run_id = queue.submit(config, launch.make_request(config, None, "mine"), owner=owner)  # pressed Train, then left
    reloaded = open_as(key, "app_pages/training.py")  # the same browser: a new session, no run id in it
    assert "run_id" not in reloaded.session_state
    assert any("number **1** in line" in info.value for info in reloaded.info)
    assert [button.key for button in reloaded.button if button.key.startswith("cancel_")] == [f"cancel_current_{run_id}"]
    stranger = open_as(None, "app_pages/training.py")
    assert not [button for button in stranger.button if button.key.startswith("cancel_")]
    assert not any("in line" in info.value for info in stranger.info)
    reloaded.button(key=f"cancel_current_{run_id}").click().run()
    assert runs.read_status(run_id)["state"] == "cancelled"

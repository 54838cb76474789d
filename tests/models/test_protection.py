"""Protected models: shipped ones and admin-marked ones are never deleted or overwritten, by any route."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from cnn_core.cli.main import main
from cnn_core.models import protection, registry
from cnn_core.training import launch
from cnn_core.training.config import TrainConfig
from cnn_core.training.model import build_model
from helpers.paths import PROJECT_ROOT

SHIPPED = "cifar10-subset-best"


def fingerprint(folder) -> dict[str, str]:
    """sha256 of every file in a model folder: equal fingerprints, unchanged files."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def tiny_metadata() -> dict:
    return {"config": TrainConfig(filters=[4]).to_dict(), "class_names": [str(i) for i in range(10)]}


def test_the_shipped_list_names_exactly_the_models_git_tracks():
    tracked = subprocess.run(["git", "ls-files", "models"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                             check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    folders = {path.split("/")[1] for path in tracked if path.endswith("/model.keras")}
    assert folders == protection.shipped_names() == {SHIPPED}


def test_the_shipped_model_cannot_be_deleted_or_overwritten(shipped_models_copy):
    before = fingerprint(shipped_models_copy / SHIPPED)
    with pytest.raises(protection.ProtectedError, match="cannot be deleted"):
        registry.delete_model(SHIPPED)
    with pytest.raises(protection.ProtectedError, match="cannot be overwritten"):
        registry.save_model(build_model(TrainConfig(filters=[4])), "Cifar10 Subset Best", tiny_metadata())
    with pytest.raises(protection.ProtectedError, match="always stays protected"):
        protection.set_protected(SHIPPED, False)
    assert fingerprint(shipped_models_copy / SHIPPED) == before
    assert [model["name"] for model in registry.list_models()] == [SHIPPED]


def test_rename_moves_a_model_but_never_a_protected_one_or_onto_a_taken_name(shipped_models_copy):
    registry.save_model(build_model(TrainConfig(filters=[4])), "draft", tiny_metadata())
    registry.save_model(build_model(TrainConfig(filters=[4])), "taken", tiny_metadata())
    draft, taken = fingerprint(shipped_models_copy / "draft"), fingerprint(shipped_models_copy / "taken")
    shipped = fingerprint(shipped_models_copy / SHIPPED)
    with pytest.raises(protection.ProtectedError, match="cannot be renamed"):
        registry.rename_model(SHIPPED, "mine-now")
    with pytest.raises(registry.RegistryError, match="already a saved model named 'taken'"):
        registry.rename_model("draft", "Taken")
    with pytest.raises(registry.RegistryError, match="no saved model named 'ghost'"):
        registry.rename_model("ghost", "anything")
    assert fingerprint(shipped_models_copy / "draft") == draft and fingerprint(shipped_models_copy / "taken") == taken
    assert fingerprint(shipped_models_copy / SHIPPED) == shipped
    assert registry.rename_model("draft", "Final Model") == "final-model"
    assert not (shipped_models_copy / "draft").exists()
    assert registry.load_metadata("final-model")["name"] == "final-model"
    assert registry.load_model("final-model").count_params() == build_model(TrainConfig(filters=[4])).count_params()
    assert sorted(model["name"] for model in registry.list_models()) == [SHIPPED, "final-model", "taken"]


def test_a_run_that_would_save_over_a_protected_model_is_refused_before_it_starts(app_dirs):
    with pytest.raises(protection.ProtectedError):
        launch.make_request(TrainConfig(filters=[4]), None, SHIPPED)
    assert not any(app_dirs["runs"].iterdir())


def test_an_admin_mark_protects_until_it_is_lifted(app_dirs):
    registry.save_model(build_model(TrainConfig(filters=[4])), "marked", tiny_metadata())
    before = fingerprint(app_dirs["models"] / "marked")
    protection.set_protected("marked", True)
    assert protection.protection_reason("marked") == "marked"
    with pytest.raises(protection.ProtectedError, match="An admin protected"):
        registry.delete_model("marked")
    with pytest.raises(protection.ProtectedError):
        registry.save_model(build_model(TrainConfig(filters=[4], seed=1)), "marked", tiny_metadata())
    assert fingerprint(app_dirs["models"] / "marked") == before
    protection.set_protected("marked", False)
    registry.delete_model("marked")
    assert not (app_dirs["models"] / "marked").exists()
    assert json.loads((app_dirs["models"] / ".protected.json").read_text()) == []


def test_a_damaged_protection_list_fails_closed(app_dirs):
    registry.save_model(build_model(TrainConfig(filters=[4])), "mine", tiny_metadata())
    (app_dirs["models"] / ".protected.json").write_text('["mi')  # half-written by hand
    with pytest.raises(protection.ProtectedError, match="damaged"):
        registry.delete_model("mine")
    assert (app_dirs["models"] / "mine" / "model.keras").is_file()
    protection.set_protected("other", True)  # an admin's next mark rewrites the list
    registry.delete_model("mine")
    assert not (app_dirs["models"] / "mine").exists()


def test_cli_models_delete_refuses_a_protected_model_with_exit_1(shipped_models_copy, capsys):
    before = fingerprint(shipped_models_copy / SHIPPED)
    assert main(["models", "delete", SHIPPED]) == 1
    captured = capsys.readouterr()
    assert "protected" in captured.err and captured.out == ""
    assert fingerprint(shipped_models_copy / SHIPPED) == before


def test_python_dash_m_cnn_core_models_delete_rename_and_protect(app_dirs):
    registry.save_model(build_model(TrainConfig(filters=[4])), "keep-me", tiny_metadata())

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cnn_core", "models", *argv], capture_output=True, text=True,
                              cwd=PROJECT_ROOT, timeout=120)

    assert cli("protect", "keep-me").returncode == 0
    refused = cli("delete", "keep-me")
    assert refused.returncode == 1 and "An admin protected 'keep-me'" in refused.stderr
    listed = [json.loads(line) for line in cli("list").stdout.splitlines()]
    assert listed[0]["name"] == "keep-me" and listed[0]["protected"] == "marked"
    assert cli("rename", "keep-me", "other").returncode == 1  # protected: its name stays
    assert cli("unprotect", "keep-me").returncode == 0
    renamed = cli("rename", "keep-me", "kept")
    assert renamed.returncode == 0 and json.loads(renamed.stdout) == {"name": "kept", "renamed_from": "keep-me",
                                                                      "action": "rename"}
    assert cli("delete", "kept").returncode == 0
    assert not (app_dirs["models"] / "kept").exists() and not (app_dirs["models"] / "keep-me").exists()


def test_the_command_line_in_public_mode_sees_and_changes_models_as_the_pages_do(app_dirs, monkeypatch, capsys):
    """`--owner` acts as that visitor, `--admin` as a teacher; another visitor's private model reads as absent."""
    registry.save_model(build_model(TrainConfig(filters=[4])), "alices", {**tiny_metadata(), "owner": "alice"})
    registry.save_model(build_model(TrainConfig(filters=[4])), "shared", {**tiny_metadata(), "owner": "alice",
                                                                           "shared": True})
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")

    def listed(*who: str) -> list[str]:
        assert main(["models", "list", *who]) == 0
        return sorted(json.loads(line)["name"] for line in capsys.readouterr().out.splitlines())

    assert listed() == ["shared"] and listed("--owner", "bob") == ["shared"]
    assert listed("--owner", "alice") == ["alices", "shared"] == listed("--admin")
    assert main(["models", "delete", "alices", "--owner", "bob"]) == 2  # "no such model": not even its existence
    assert "no saved model named 'alices'" in capsys.readouterr().err.lower()
    assert main(["models", "delete", "shared", "--owner", "bob"]) == 1  # seen by all, changed by its owner only
    assert main(["models", "protect", "shared", "--owner", "alice"]) == 1  # protecting is a teacher's
    assert main(["export", "--model", "alices", "--format", "keras-code", "--out", str(app_dirs["data"]),
                 "--owner", "bob"]) == 2
    capsys.readouterr()
    registry.save_model(build_model(TrainConfig(filters=[4])), "bobs", {**tiny_metadata(), "owner": "bob"})
    assert main(["models", "rename", "shared", "mine", "--owner", "bob"]) == 1  # not his
    assert main(["models", "rename", "alices", "mine", "--owner", "bob"]) == 2  # not even there, for him
    assert main(["models", "rename", "bobs", "ALICES", "--owner", "bob"]) == 2  # reads like alice's model
    assert "alices" in capsys.readouterr().err
    assert main(["models", "rename", "bobs", "bobs-cnn", "--owner", "bob"]) == 0
    assert sorted(path.name for path in app_dirs["models"].iterdir()) == ["alices", "bobs-cnn", "shared"]
    assert main(["models", "delete", "alices", "--owner", "alice"]) == 0
    assert not (app_dirs["models"] / "alices").exists() and (app_dirs["models"] / "shared").exists()

"""The training queue: positions and ETAs, limits under concurrent submits, cancelling, damaged entries, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnn_core.server import queue
from cnn_core.training import launch, runs
from cnn_core.training.config import TrainConfig

from helpers.paths import PROJECT_ROOT
from helpers.runs import TINY

CONFIG = TrainConfig(**TINY, epochs=1)


def submit(owner: str, name: str = "tiny", **request) -> str:
    return queue.submit(CONFIG, launch.make_request(CONFIG, None, name, **request), owner=owner)


def cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "cnn_core", *argv], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120, env={**os.environ, **(env or {})})


def test_eta_plays_the_queue_forward_over_the_slots():
    # Two slots busy for 100 s and 50 s more; three runs of 300 s wait: they start at 50, 100 and 350 s.
    now = runs.now_iso()
    statuses = [{"run_id": "a", "state": "running", "started": now, "budget_seconds": 100},
                {"run_id": "b", "state": "running", "started": now, "budget_seconds": 50}]
    statuses += [{"run_id": f"q{i}", "state": "queued", "queued_at": float(i), "budget_seconds": 300} for i in range(3)]
    statuses.append({"run_id": "old", "state": "finished"})
    places = queue.positions(statuses, slots=2)
    assert [places[f"q{i}"]["position"] for i in range(3)] == [1, 2, 3]
    # "started" has whole seconds, so up to a second has already passed
    assert [places[f"q{i}"]["eta"] for i in range(3)] == pytest.approx([50, 100, 350], abs=1.5)
    assert set(places) == {"q0", "q1", "q2"}
    # A free slot: the first in line starts now.
    assert queue.positions(statuses[2:], slots=1)["q0"]["eta"] == 0


def test_public_mode_caps_time_and_images_and_allows_one_run_per_owner(app_dirs, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    monkeypatch.setenv("CNN_STUDIO_MAX_RUN_SECONDS", "120")
    monkeypatch.setenv("CNN_STUDIO_MAX_TRAIN_IMAGES", "500")
    run_id = submit("alice", max_images=10_000)
    assert runs.read_config(run_id)["time_budget_seconds"] == 0  # no budget asked for: its epochs stay its own ...
    assert runs.read_request(run_id)["max_seconds"] == 120  # ... under the server's ceiling
    assert runs.read_request(run_id)["max_images"] == 500
    status = runs.read_status(run_id)
    assert (status["state"], status["owner"], status["budget_seconds"]) == ("queued", "alice", 120)
    with pytest.raises(queue.QueueError, match="already have a run"):
        submit("alice")
    submit("bob", "bobs-tiny")  # "tiny" is held by alice's queued run: the model it will save is hers
    queue.cancel(run_id)
    submit("alice")  # a cancelled run no longer counts
    assert sorted(status["owner"] for status in runs.list_runs() if status["state"] == "queued") == ["alice", "bob"]


def test_desktop_mode_queues_everything_up_to_the_queue_limit(app_dirs, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_MAX_QUEUED", "3")
    ids = [submit("local") for _ in range(3)]
    with pytest.raises(queue.QueueError, match="queue is full"):
        submit("local")
    assert [queue.positions()[run_id]["position"] for run_id in ids] == [1, 2, 3]
    assert runs.read_config(ids[0])["time_budget_seconds"] == 0  # no cap off public mode


def test_cancel_only_while_queued(app_dirs):
    run_id = submit("local")
    queue.cancel(run_id)
    assert runs.read_status(run_id)["state"] == "cancelled"
    with pytest.raises(queue.QueueError, match="no longer waiting"):
        queue.cancel(run_id)
    assert queue.positions() == {}


def test_a_damaged_queued_entry_is_skipped_and_the_rest_keep_their_order(app_dirs):
    first, second, third = (submit("local") for _ in range(3))
    (app_dirs["runs"] / second / "status.json").write_text('{"run_id": "')  # torn by hand
    places = queue.positions()
    assert {run_id: place["position"] for run_id, place in places.items()} == {first: 1, third: 2}


def test_simultaneous_submits_from_separate_processes_respect_one_run_per_owner(app_dirs):
    # Eight `submit` commands at once, two per owner, in public mode: exactly one run per owner is queued.
    env = {"CNN_STUDIO_PUBLIC": "1"}
    commands = [subprocess.Popen([sys.executable, "-m", "cnn_core", "submit", "--preset", "quick", "--name", f"m{i}",
                                  "--owner", f"owner{i % 4}", "--epochs", "1"], cwd=PROJECT_ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**__import__("os").environ, **env})
                for i in range(8)]
    results = [(command.wait(timeout=120), command.stdout.read(), command.stderr.read()) for command in commands]
    accepted = [json.loads(out) for code, out, _ in results if code == 0]
    refused = [err for code, _, err in results if code != 0]
    assert len(accepted) == 4 and len(refused) == 4
    assert all("already have a run" in err for err in refused)
    assert sorted(entry["position"] for entry in accepted) == [1, 2, 3, 4]
    owners = sorted(status["owner"] for status in runs.list_runs())
    assert owners == ["owner0", "owner1", "owner2", "owner3"]
    assert sorted(place["position"] for place in queue.positions().values()) == [1, 2, 3, 4]


def test_cli_runs_lists_owner_state_and_position_across_processes(app_dirs):
    submitted = cli("submit", "--preset", "quick", "--name", "cli-model", "--owner", "carol", "--epochs", "2")
    assert submitted.returncode == 0, submitted.stderr
    line = json.loads(submitted.stdout)
    assert line["position"] == 1 and runs.RUN_ID_PATTERN.match(line["run_id"])
    listed = cli("runs")  # a fresh process: the queue lives on disk, so a restarted server sees it too
    rows = [json.loads(text) for text in listed.stdout.splitlines()]
    assert rows == [{"run_id": line["run_id"], "owner": "carol", "state": "queued", "position": 1,
                     "eta_seconds": rows[0]["eta_seconds"], "model": "cli-model", "started": None, "ended": None}]


def test_cli_submit_refuses_an_empty_owner_and_in_public_mode_a_folder_outside_the_data_roots(app_dirs, capsys,
                                                                                              monkeypatch):
    from cnn_core.cli import main as command_line

    with pytest.raises(SystemExit):  # argparse: exit 2 with its usage line
        command_line.main(["submit", "--preset", "quick", "--name", "m", "--owner", " ", "--epochs", "1"])
    assert "the owner cannot be empty" in capsys.readouterr().err
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    assert command_line.main(["submit", "--data", "/etc", "--preset", "quick", "--name", "m", "--owner", "o",
                              "--epochs", "1"]) == 2
    assert "administrator" in capsys.readouterr().err and runs.list_runs() == []
    assert command_line.main(["submit", "--data", "cifar10", "--preset", "quick", "--name", "m", "--owner", "o",
                              "--epochs", "1"]) == 0  # the download's name, not a path


def test_cli_runs_delete_removes_ended_runs_and_refuses_the_rest(app_dirs):
    queued = submit("dave")
    ended = submit("erin")
    queue.cancel(ended)
    refused = cli("runs", "--delete", "20260101-000000-abcdef")
    assert refused.returncode == 2 and "error:" in refused.stderr  # no such run: bad usage
    deleted = cli("runs", "--delete", ended)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"deleted": ended} and not (app_dirs["runs"] / ended).exists()
    still_waiting = cli("runs", "--delete", queued)
    assert still_waiting.returncode == 1 and "cancel it before deleting it" in still_waiting.stderr
    assert [status["run_id"] for status in runs.list_runs()] == [queued]


def test_public_mode_a_name_that_reads_like_anothers_model_is_refused_whatever_its_case_or_separators(app_dirs,
                                                                                                      monkeypatch):
    """`VICTIM_MODEL` was accepted beside another visitor's `victim-model`: two models people cannot tell apart."""
    from cnn_core.models import registry

    folder = app_dirs["models"] / "victim-model"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"not read here")
    (folder / "metadata.json").write_text(json.dumps({"name": "victim-model", "owner": "anon-victim"}))
    monkeypatch.setenv("CNN_STUDIO_PUBLIC", "1")
    assert registry.name_key("VICTIM_MODEL") == registry.name_key("Victim  Model") == "victim-model"
    for lookalike in ("VICTIM_MODEL", "victim model", "Victim__Model", "victim-model"):
        with pytest.raises(queue.QueueError, match="'victim-model'"):
            submit("anon-thief", lookalike)
    run_id = submit("anon-victim", "Victim_Model")  # the owner may reuse their own name, in any spelling
    submit("anon-carol", "class-project")  # a run that will save a model holds its name too
    with pytest.raises(queue.QueueError, match="'class-project'"):
        submit("anon-dave", "CLASS_PROJECT")
    assert runs.read_status(run_id)["model_name"] == "victim_model" and len(runs.list_runs()) == 2
    # The same rule, read from disk, guards a rename or an import (a queued run once lost its name to one and failed
    # at its save): the queued run's name is taken for everyone but its owner.
    from cnn_core.server.owners import Visitor, name_taken_by_other

    assert name_taken_by_other("Class Project", Visitor("anon-dave")) == "class-project"
    assert name_taken_by_other("class-project", Visitor("anon-carol")) is None
    assert name_taken_by_other("class-project", Visitor("anon-dave", admin=True)) is None

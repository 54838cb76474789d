"""Ray: two queued runs train at once on a real two-node local cluster; Stop works there, a killed node
leaves its run "interrupted" with its checkpoint copied back, and nothing imports Ray unless configured.

The cluster is started as a teacher would (`ray start --head`, then `ray start --address` for a second node,
both on 127.0.0.1) and its processes are killed by pid at the end (helpers/ray_cluster.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest

from cnn_core.server import dispatcher, queue
from cnn_core.training import launch, runs
from cnn_core.training.config import TrainConfig
from cnn_core.training.resume import read_checkpoint

from helpers.paths import PROJECT_ROOT
from helpers.ray_cluster import kill, short_temp_folder, start_node
from helpers.runs import TINY, wait_until
from helpers.server import free_port

CONFIG = TrainConfig(**TINY, epochs=500)  # ended by the test (Stop, a killed node), never by its epochs


def test_nothing_imports_ray_unless_it_is_configured():
    script = ("import sys, cnn_core.cli.main, cnn_core.server.dispatcher, cnn_core.server.queue; "
              "print('ray' in sys.modules)")
    env = {key: value for key, value in os.environ.items() if "RAY_ADDRESS" not in key}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
                            env=env, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


class _Method:
    """An actor method whose `.remote()` returns its value as the "object ref" (ray.get is patched to pass it on)."""

    def __init__(self, value):
        self.value = value

    def remote(self, *args):
        return self.value


def test_a_run_that_ended_stays_ended_when_the_ray_clean_up_fails(app_dirs, monkeypatch):
    # The relay copies results home and marks the run ended, then cleans up on the node; if the cluster went away
    # meanwhile, that clean-up fails, and the run must not be marked interrupted (it once was).
    ray = pytest.importorskip("ray")
    from cnn_core.server import ray_backend

    run_id = runs.create_run(CONFIG.to_dict(), launch.make_request(CONFIG, None, "tidy"))
    actor = type("FakeActor", (), {
        "poll": _Method({"lines": [], "checkpoint": None, "status": {**runs.read_status(run_id), "state": "finished"}}),
        "checkpoint": _Method(None), "files": _Method({}), "model": _Method(None), "cleanup": _Method(None),
        "stop": _Method(None)})()

    def actor_gone(*args, **kwargs):
        raise RuntimeError("the cluster is gone")

    monkeypatch.setattr(ray, "get", lambda ref, timeout=None: ref)
    monkeypatch.setattr(ray, "kill", actor_gone)
    ray_backend._relay(run_id, actor)
    assert runs.read_status(run_id)["state"] == "finished"
    assert all(event["type"] != "interrupted" for event in runs.read_events(run_id))


@pytest.fixture()
def ray_cluster(monkeypatch):
    try:
        import ray
    except ImportError:
        reason = os.environ.get("CNN_STUDIO_RAY_UNINSTALLABLE")
        if os.environ.get("CI") and not reason:
            pytest.fail("CI installs requirements-ray.txt (.ci/run)")
        pytest.skip(f"Ray cannot be used here: {reason or 'not installed (pip install -r requirements-ray.txt)'}")
    # Token authentication off for this throw-away loopback cluster, whatever another Ray left in ~/.ray: with a
    # stale ~/.ray/auth_token there, the head demanded a token the worker node did not send.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port, temp = free_port(), short_temp_folder()
    head, worker = set(), set()
    try:
        head = start_node("--head", f"--port={port}", "--include-dashboard=false",
                          f"--ray-client-server-port={free_port()}", temp=temp)
        worker = start_node(f"--address=127.0.0.1:{port}", temp=temp)
        monkeypatch.setenv("CNN_STUDIO_RAY_ADDRESS", f"127.0.0.1:{port}")
        monkeypatch.setenv("CNN_STUDIO_RAY_NODE_IP", "127.0.0.1")  # this test machine's own IP is not reachable
        monkeypatch.setenv("CNN_STUDIO_MAX_RUNS", "2")
        yield worker
    finally:
        # The server's relay threads finish a run's clean-up after its status says it ended: let them end before
        # Ray goes (a relay still calling into a shut-down Ray once crashed a later test's worker process).
        for thread in threading.enumerate():
            if thread.name.startswith("ray-relay-"):
                thread.join(timeout=60)
        ray.shutdown()
        kill(worker | head)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_two_runs_at_once_on_two_nodes_stop_and_a_killed_node(ray_cluster, app_dirs, cifar_subset):
    import ray

    worker = ray_cluster
    ids = [queue.submit(CONFIG, launch.make_request(CONFIG, str(cifar_subset), name, max_images=256), owner=name)
           for name in ("on-a", "on-b")]
    assert sorted(dispatcher.dispatch_once()) == sorted(ids)
    assert dispatcher.dispatch_once() == []  # both slots taken: nothing starts twice

    def epoch_done(run_id: str) -> bool:  # relayed events and a copied-back checkpoint, on this server's disk
        return (any(event["type"] == "epoch" for event in runs.read_events(run_id))
                and read_checkpoint(run_id) is not None)

    wait_until(lambda: all(epoch_done(run_id) for run_id in ids), timeout=400)
    nodes = {run_id: runs.read_status(run_id)["ray_node"] for run_id in ids}
    assert len(set(nodes.values())) == 2  # one run on each node, at the same time
    assert all(runs.read_status(run_id)["state"] == "running" for run_id in ids)
    head_node = ray.get_runtime_context().get_node_id()  # the driver (this server) runs on the head node
    killed = next(run_id for run_id in ids if nodes[run_id] != head_node)
    stopped = next(run_id for run_id in ids if run_id != killed)

    kill(worker)  # the lab PC is switched off mid-run
    runs.request_stop(stopped)
    wait_until(lambda: runs.read_status(killed)["state"] == "interrupted", timeout=180)
    assert "Ray worker" in runs.read_status(killed)["error"]
    assert read_checkpoint(killed) is not None  # its owner can resume it: weights and the info naming them
    wait_until(lambda: runs.read_status(stopped)["state"] not in runs.ACTIVE_STATES, timeout=300)
    status = runs.read_status(stopped)
    assert status["state"] == "stopped" and status["model_saved"], status
    types = [event["type"] for event in runs.read_events(stopped)]
    assert types.count("start") == 1 and "stopped" in types and types[-1] == "finish"
    assert (app_dirs["models"] / "on-b" if stopped == ids[1] else app_dirs["models"] / "on-a").joinpath(
        "model.keras").is_file()
    assert (runs.run_folder(stopped) / "predictions.npz").is_file()

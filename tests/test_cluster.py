"""The cluster a run uses: the embedded Ray listens on loopback only; the resource check knows autoscalers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import component, small_config

from svdd_ray.config import Config, ConfigError, from_dict
from svdd_ray.engine import cluster
from svdd_ray.engine.ray_processes import is_loopback

# Run in a fresh process: ray.init state is per process and the test session has its own Ray.
LISTENERS = r"""
import json, os, sys, time
import ray  # first: Ray puts its vendored psutil on sys.path
import psutil
from svdd_ray.engine.cluster import connect
from svdd_ray.engine.ray_processes import processes, sockets

connect(None, 1)

@ray.remote(num_cpus=0)
class Probe:
    def pid(self):
        return os.getpid()

@ray.remote(num_cpus=0)
def pid():
    return os.getpid()

probe = Probe.remote()
ray.get([probe.pid.remote(), pid.remote()], timeout=120)
time.sleep(5)  # the agents, monitor and metrics exporters bind a little after start
session = ray._private.worker._global_node.get_session_dir_path()
procs = {p.pid: p for p in [psutil.Process(), *psutil.Process().children(recursive=True)]}
procs.update(processes(session))  # anything of this session that is not a descendant
from ray._private.authentication.authentication_utils import is_token_auth_enabled
out = {"node_ip": ray.util.get_node_ip_address(), "token_auth": is_token_auth_enabled(), "sockets": sockets(procs)}
ray.shutdown()
print("LISTENERS " + json.dumps(out))
"""


def test_embedded_ray_listens_on_loopback_only_with_token_auth():
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    done = subprocess.run(
        [sys.executable, "-c", LISTENERS], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("LISTENERS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    found = json.loads(lines[-1].removeprefix("LISTENERS "))
    for pid, name, kind, ip, port in sorted(found["sockets"]):
        print(f"{pid:>8} {name:<24} {kind} {ip}:{port}")
    assert found["node_ip"] == "127.0.0.1"
    assert found["token_auth"]
    assert len(found["sockets"]) >= 4  # at least driver, GCS, raylet (2), agents: the probe saw Ray's servers
    exposed = [s for s in found["sockets"] if not is_loopback(s[3])]
    assert not exposed, f"listening beyond loopback: {exposed}"


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [("127.0.0.1", True), ("::ffff:127.0.0.1", True), ("::1", True), ("0.0.0.0", False), ("::", False)],
)
def test_loopback_addresses(ip, loopback):
    assert is_loopback(ip) is loopback


# ---------------------------------------------------------------------- resource check, autoscaler mocked
def _config(tmp_path, *, actors=3, num_gpus=0.0, start_timeout_s=None) -> Config:
    config = small_config(
        tmp_path / "out", backend="ray", rewards=[component("ones", actors=actors, num_cpus=0.5)], method="pretrained"
    )
    config.resources.denoiser_actors = 2
    config.resources.denoiser_num_cpus = 1.0
    config.resources.denoiser_num_gpus = num_gpus
    if start_timeout_s is not None:
        config.resources.start_timeout_s = start_timeout_s
    return config


@pytest.fixture
def fake_cluster(monkeypatch):
    """A cluster whose resources the test sets (``state["have"]``, a dict or a list consumed per poll)."""
    import ray
    import ray.autoscaler.sdk

    state = {"have": {"CPU": 2.0}, "autoscaler": False, "requests": [], "max": None}

    def resources():
        have = state["have"]
        return (
            have.pop(0) if isinstance(have, list) and len(have) > 1 else (have[0] if isinstance(have, list) else have)
        )

    monkeypatch.setattr(ray, "cluster_resources", resources)
    monkeypatch.setattr(cluster, "has_autoscaler", lambda: state["autoscaler"])
    monkeypatch.setattr(cluster, "_max_resources", lambda: state["max"])
    monkeypatch.setattr(ray.autoscaler.sdk, "request_resources", lambda bundles=None: state["requests"].append(bundles))
    return state


def test_without_an_autoscaler_a_small_cluster_is_refused_as_before(tmp_path, fake_cluster):
    with pytest.raises(ConfigError) as err:
        cluster.check_resources(_config(tmp_path))
    assert str(err.value) == (
        "resources: the actors need 3.5 CPUs but the cluster has 2; "
        "lower resources.denoiser_num_cpus or the reward components' actors/num_cpus"
    )
    fake_cluster["have"] = {"CPU": 8.0}
    with pytest.raises(ConfigError) as err:
        cluster.check_resources(_config(tmp_path, num_gpus=1.0))
    assert str(err.value) == "resources.denoiser_num_gpus: the denoisers need 2 GPUs but the cluster has 0"
    assert fake_cluster["requests"] == []
    assert cluster.check_resources(_config(tmp_path)) is True


def test_with_an_autoscaler_a_small_cluster_is_requested_not_refused(tmp_path, fake_cluster):
    fake_cluster["autoscaler"] = True
    assert cluster.check_resources(_config(tmp_path, num_gpus=1.0)) is False
    assert fake_cluster["requests"] == [[{"CPU": 1.0, "GPU": 1.0}] * 2 + [{"CPU": 0.5}] * 3]
    cluster.release_resources()
    assert fake_cluster["requests"][-1] == []


def test_an_autoscaler_that_cannot_grow_enough_is_refused(tmp_path, fake_cluster):
    fake_cluster.update(autoscaler=True, max={"CPU": 64, "GPU": 1})
    with pytest.raises(
        ConfigError, match="the actors need 2 GPUs but the cluster's autoscaler can grow it to at most 1"
    ):
        cluster.check_resources(_config(tmp_path, num_gpus=1.0))
    assert fake_cluster["requests"] == []


def test_waiting_reports_events_and_times_out_with_one_line(tmp_path, fake_cluster):
    fake_cluster["have"] = [{"CPU": 2.0}, {"CPU": 2.0}, {"CPU": 3.0, "GPU": 1.0}]
    events = []
    began = time.monotonic()
    with pytest.raises(ConfigError) as err:
        cluster.wait_for_resources(_config(tmp_path, num_gpus=1.0, start_timeout_s=0.3), events.append, poll_s=0.02)
    assert 0.3 <= time.monotonic() - began < 5
    assert str(err.value) == (
        "resources.start_timeout_s: the cluster did not provide 3.5 CPUs / 2 GPUs within 0.3 s (it has 3 CPUs / 1 GPUs)"
    )
    assert [e["have"] for e in events] == [{"CPU": 2.0, "GPU": 0.0}, {"CPU": 3.0, "GPU": 1.0}]
    assert all(e["kind"] == "waiting" and e["need"] == {"CPU": 3.5, "GPU": 2.0} for e in events)
    assert events[0]["timeout_s"] == 0.3


def test_waiting_ends_when_the_nodes_join(tmp_path, fake_cluster):
    fake_cluster["have"] = [{"CPU": 2.0}, {"CPU": 2.0}, {"CPU": 4.0, "GPU": 2.0}]
    events = []
    cluster.wait_for_resources(_config(tmp_path, num_gpus=1.0), events.append, timeout_s=30, poll_s=0.01)
    assert len(events) == 1 and fake_cluster["have"] == [{"CPU": 4.0, "GPU": 2.0}]


def test_a_run_on_a_small_autoscaling_cluster_waits_shows_it_and_gives_up_with_one_line(
    ray_session, tmp_path, fake_cluster, capsys
):
    """The engine wires it: waiting events reach the CLI's progress, the timeout is one line, nothing is written."""
    from svdd_ray.cli import Progress
    from svdd_ray.engine import run

    fake_cluster.update(autoscaler=True, have={"CPU": 0.5})
    config = _config(tmp_path, start_timeout_s=0.2)
    with pytest.raises(ConfigError, match="resources.start_timeout_s: the cluster did not provide 3.5 CPUs"):
        run(config, Progress(enabled=True))
    assert (
        "waiting for the cluster to grow: the actors need 3.5 CPUs / 0 GPUs, it has 0.5 / 0" in capsys.readouterr().err
    )
    assert fake_cluster["requests"][0] and fake_cluster["requests"][-1] == []  # asked for, then withdrawn
    assert not Path(config.run.output_dir).exists()


def test_start_timeout_s_must_be_positive(tmp_path):
    data = small_config(tmp_path / "out").to_dict()
    data["resources"]["start_timeout_s"] = 0
    with pytest.raises(ConfigError, match="resources.start_timeout_s: must be > 0"):
        from_dict(Config, data, "config")
    data["resources"]["start_timeout_s"] = 30
    assert from_dict(Config, data, "config").resources.start_timeout_s == 30.0


@pytest.mark.parametrize("bad", [0, -1.5, float("nan"), float("inf")])
def test_connect_timeout_s_must_be_positive(tmp_path, bad):
    data = small_config(tmp_path / "out").to_dict()
    data["resources"]["connect_timeout_s"] = bad
    with pytest.raises(ConfigError, match=r"^config\.resources\.connect_timeout_s: must be > 0") as err:
        from_dict(Config, data, "config")
    assert "\n" not in str(err.value)
    data["resources"]["connect_timeout_s"] = 2
    assert from_dict(Config, data, "config").resources.connect_timeout_s == 2.0
    assert small_config(tmp_path / "out").resources.connect_timeout_s == 30.0


# ---------------------------------------------------------------------- joining a cluster, with a deadline
REPO = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_cluster_at_a_closed_port_is_one_line_within_the_timeout():
    port = _closed_port()
    began = time.monotonic()
    with pytest.raises(ConfigError) as err:
        cluster.check_reachable(f"127.0.0.1:{port}", 2, "from RAY_ADDRESS")
    elapsed = time.monotonic() - began
    message = str(err.value)
    assert 1.5 < elapsed < 5  # refusals are retried until the deadline (a head may be starting), no longer
    assert message.startswith(f"resources.address: no Ray cluster answered at 127.0.0.1:{port}")
    assert "within 2 s (from RAY_ADDRESS)" in message and "unset RAY_ADDRESS" in message
    assert "\n" not in message


def test_a_listener_that_is_not_a_ray_gcs_is_one_line_within_the_timeout():
    with socket.socket() as listener:  # accepts connections (the backlog), never answers
        listener.bind(("0.0.0.0", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.* accepts connections but no Ray GCS answered") as e:
            cluster.check_reachable(f"127.0.0.1:{port}", 2)
        elapsed = time.monotonic() - began
    assert elapsed < 8  # the probe child is killed at the deadline (at least 3 s: it has to import Ray)
    assert "within 2 s (from --address / resources.address)" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("address", ["nonsense", "host:port", "host:70000", "ray://:10001"])
def test_a_malformed_address_is_one_line_at_once(address):
    began = time.monotonic()
    with pytest.raises(ConfigError, match="^resources.address: expected host:port, 'auto' or ray://host:port"):
        cluster.check_reachable(address, 30)
    assert time.monotonic() - began < 2


def test_a_failed_join_is_one_line_and_leaves_no_ray(monkeypatch):
    """ray.init failing after the probe (say a version mismatch): one line, and Ray shut down again."""
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster, "check_reachable", lambda *a: calls.append(("probe", *a)))

    def init(**kwargs):
        calls.append(("init", kwargs["address"]))
        raise ConnectionError("Version mismatch: the cluster runs Ray 2.59.0\nmore detail")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append(("shutdown",)))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError) as err:
        cluster.connect("10.1.2.3:6379", None, timeout_s=7)
    assert str(err.value) == (
        "resources.address: could not join the Ray cluster at 10.1.2.3:6379 (from --address / resources.address): "
        "Version mismatch: the cluster runs Ray 2.59.0"
    )
    assert calls == [
        ("probe", "10.1.2.3:6379", 7, "from --address / resources.address"),
        ("init", "10.1.2.3:6379"),
        ("shutdown",),
    ]


@pytest.mark.parametrize("via", ["--address", "RAY_ADDRESS"])
def test_the_cli_gives_up_on_an_unreachable_cluster_in_one_line(tmp_path, via):
    """``--address`` to a closed port, or a stale ``RAY_ADDRESS``: exit 2, one line, nothing written, no hang."""
    port = _closed_port()
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "svdd_ray.cli", "run", "configs/demo_bitstrings.yaml"]
    command += ["resources.connect_timeout_s=2", "--out", str(out), "--quiet"]
    if via == "--address":
        command += ["--address", f"127.0.0.1:{port}"]
    else:
        env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
    began = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.monotonic() - began
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert f"resources.address: no Ray cluster answered at 127.0.0.1:{port}" in lines[0]
    source = "from --address / resources.address" if via == "--address" else "from RAY_ADDRESS"
    assert f"within 2 s ({source})" in lines[0]
    assert elapsed < 20
    assert not out.exists()


# ---------------------------------------------------------------------- autoscaler detection
def test_the_v1_status_of_a_plain_cluster_is_no_autoscaler(monkeypatch):
    import ray.experimental.internal_kv as kv

    node = "ab" * 28
    readonly = {
        "active_nodes": {f"node_{node}": 1},
        "pending_launches": {},
        "node_type_mapping": {node: f"node_{node}"},
    }
    kuberay = {"active_nodes": {"headgroup": 1}, "pending_launches": {"gpu-group": 1}, "node_type_mapping": {}}
    for report, expected in ((readonly, False), (kuberay, True), (None, False)):
        raw = json.dumps({"autoscaler_report": report}).encode() if report else None
        monkeypatch.setattr(kv, "_internal_kv_get", lambda key, raw=raw, **kw: raw)
        assert cluster._v1_autoscaler_has_node_types() is expected


def test_a_local_ray_has_no_autoscaler(ray_session, tmp_path):
    """The embedded/local Ray runs the read-only autoscaler monitor: that is not an autoscaler that adds nodes."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    deadline = time.monotonic() + 60
    while _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS) is not None
    assert cluster.has_autoscaler() is False
    assert cluster._max_resources() is None
    events = []
    config = small_config(tmp_path / "out", backend="ray")
    assert cluster.check_resources(config) is True
    cluster.wait_for_resources(config, events.append, timeout_s=5)
    assert events == []


# ---------------------------------------------------------------------- deploy/rayjob.yaml
ROOT = Path(__file__).resolve().parents[1]


def _cpus(quantity: str | int) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_the_rayjob_manifest_is_complete_and_its_job_fits_its_cluster():
    import argparse
    import shlex

    import yaml

    from svdd_ray.config import load_config

    job = yaml.safe_load((ROOT / "deploy" / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob") and job["metadata"]["name"]
    spec, cluster_spec = job["spec"], job["spec"]["rayClusterSpec"]
    assert cluster_spec["enableInTreeAutoscaling"] is True
    assert cluster_spec["authOptions"]["mode"] == "token"
    assert cluster_spec["headGroupSpec"].get("serviceType", "ClusterIP") == "ClusterIP"
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)
    groups = cluster_spec["workerGroupSpecs"]
    for group in [cluster_spec["headGroupSpec"], *groups]:
        for container in group["template"]["spec"]["containers"]:
            assert container["name"] and container["image"]
    for group in groups:  # the fields the CRD requires of a worker group
        assert group["groupName"] and 0 <= group["minReplicas"] <= group["maxReplicas"]

    # The entrypoint is jobs/run_svdd.py's command line, and its config with overrides loads.
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["python", "jobs/run_svdd.py"]
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--out")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv[2:])
    assert args.config == "configs/molecule_docking_parp1.yaml"
    config = load_config(ROOT / args.config, args.overrides)
    assert config.resources.denoiser_num_gpus == 1

    # The autoscaler can grow the cluster to hold every actor (the head takes none: num-cpus 0).
    assert cluster_spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    limits = [(g, g["template"]["spec"]["containers"][0]["resources"]["limits"]) for g in groups]
    most_gpus = sum(g["maxReplicas"] * int(lim.get("nvidia.com/gpu", 0)) for g, lim in limits)
    most_cpus = sum(g["maxReplicas"] * _cpus(lim["cpu"]) for g, lim in limits)
    need = cluster._need(config)
    assert need["GPU"] <= most_gpus and need["CPU"] <= most_cpus
    assert any(int(lim.get("nvidia.com/gpu", 0)) == 1 for _, lim in limits)


@pytest.mark.skipif(not os.environ.get("SVDD_RAY_KUBERAY_CRD"), reason="set SVDD_RAY_KUBERAY_CRD=ray.io_rayjobs.yaml")
def test_the_rayjob_manifest_matches_the_kuberay_crd():
    """Against KubeRay's own CRD (ray-operator/config/crd/bases/ray.io_rayjobs.yaml), when one is at hand."""
    import jsonschema
    import yaml

    crd = yaml.safe_load(Path(os.environ["SVDD_RAY_KUBERAY_CRD"]).read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    job = yaml.safe_load((ROOT / "deploy" / "rayjob.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(job)
    unknown = []  # a CRD prunes unknown fields silently: find them

    def walk(node, sch, path):
        if isinstance(node, dict) and "properties" in sch:
            for key, value in node.items():
                if key in sch["properties"]:
                    walk(value, sch["properties"][key], [*path, key])
                elif "additionalProperties" not in sch:
                    unknown.append(".".join(map(str, [*path, key])))
        elif isinstance(node, list) and "items" in sch:
            for i, value in enumerate(node):
                walk(value, sch["items"], [*path, i])

    walk(job, schema, [])
    assert not unknown

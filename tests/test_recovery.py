"""Recovery: a denoiser that dies or raises is replayed to the same output; one that keeps failing stops the run."""

from __future__ import annotations

import json

import pytest
from engine_helpers import SAMPLE_COLUMNS, read_samples, small_config, with_resources

from svdd_ray import engine
from svdd_ray.cli import main
from svdd_ray.errors import RunFailed

pytestmark = pytest.mark.timeout(240)

BITS = {"length": 8, "num_steps": 6}


def flaky(tmp_path, backend: str, after: int, crash: bool):
    config = small_config(tmp_path / "flaky", backend=backend)
    config.model.target = "svdd_ray.testing:bitstrings_that_fail_once"
    config.model.options = {"marker": str(tmp_path / "failed"), "after": after, "crash": crash, **BITS}
    return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    engine.run(small_config(out))
    return read_samples(out)[SAMPLE_COLUMNS]


def test_a_denoiser_killed_mid_run_is_replayed_to_the_same_output(ray_session, tmp_path, uninterrupted):
    """The denoiser's process dies (as on a preempted node): Ray restarts it, the driver replays its batches."""
    config = with_resources(flaky(tmp_path, "ray", after=9, crash=True), max_inflight_batches=2)
    totals = engine.run(config)[1]
    assert (tmp_path / "failed").exists()  # it did die
    assert totals["replays"] >= 1
    assert read_samples(tmp_path / "flaky")[SAMPLE_COLUMNS].equals(uninterrupted)


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_a_transient_model_error_is_replayed_to_the_same_output(request, tmp_path, uninterrupted, backend):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    totals = engine.run(flaky(tmp_path, backend, after=9, crash=False))[1]
    assert totals["replays"] == 1 and (tmp_path / "failed").exists()
    assert read_samples(tmp_path / "flaky")[SAMPLE_COLUMNS].equals(uninterrupted)
    manifest = json.loads((tmp_path / "flaky" / "_manifest.json").read_text())
    assert manifest["totals"]["replays"] == 1


def test_a_replay_pays_no_reward_twice(tmp_path):
    """The replayed steps find every reward already paid for in the run's cache (one batch at a time: same order)."""
    clean = engine.run(with_resources(small_config(tmp_path / "clean", backend="local"), max_inflight_batches=1))[1]
    totals = engine.run(with_resources(flaky(tmp_path, "local", after=9, crash=False), max_inflight_batches=1))[1]
    assert totals["replays"] == 1
    assert totals["replay_reward_calls"] == 0
    assert totals["reward_calls"] == clean["reward_calls"]
    rows, clean_rows = read_samples(tmp_path / "flaky"), read_samples(tmp_path / "clean")
    assert rows.reward_calls.tolist() == clean_rows.reward_calls.tolist()  # rows count as if nothing had failed


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_a_model_that_keeps_failing_stops_the_run_with_one_line_and_exit_1(request, tmp_path, capsys, backend):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    config = with_resources(small_config(tmp_path / "out", backend=backend), max_inflight_batches=1)
    config.model.target = "svdd_ray.testing:bitstrings_that_raise"
    config.model.options = {"after": 6, **BITS}  # batch 0 takes proposals 1-6; batch 1 never gets through
    config.reward.probe = 0  # the probe's own samples would take proposals too
    with pytest.raises(RunFailed, match="batch 1: the denoiser failed 3 times, last with: RuntimeError: model broken"):
        engine.run(config)
    assert (tmp_path / "out" / "batch-000000.parquet").exists()  # finished batches stay for resume

    import yaml

    data = config.to_dict()
    data["run"]["output_dir"] = str(tmp_path / "cli")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    *notices, last = err.splitlines()  # the replays are shown as they happen (also with --quiet)
    assert all(line.startswith("batch 1: denoiser failed") for line in notices) and len(notices) == 2, err
    assert last.startswith("svdd-ray: error: batch 1: the denoiser failed 3 times"), err
    if backend == "ray":
        assert "(logs: /" in err


def test_a_resumed_run_adds_up_the_wall_time_of_its_parts(tmp_path):
    config = small_config(tmp_path / "out")
    engine.run(config)
    manifest_path = tmp_path / "out" / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key in ("parts", "totals", "finished_at"):  # as if the process had died after its third batch
        del manifest[key]
    manifest["status"] = "running"
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "out" / "batch-000003.parquet").unlink()
    engine.run(config)
    manifest = json.loads(manifest_path.read_text())
    parts = manifest["parts"]
    assert [p.get("interrupted", False) for p in parts] == [True, False]
    assert [p["batches"] for p in parts] == [3, 1] and manifest["totals"]["batches"] == 4
    assert manifest["totals"]["wall_time_s"] == pytest.approx(sum(p["wall_time_s"] for p in parts))
    assert parts[0]["wall_time_s"] > 0

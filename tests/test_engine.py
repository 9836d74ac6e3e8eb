"""The engine end to end: determinism across backends, faults, resume, Parquet output."""

import json
import os

import pandas as pd
import pyarrow.dataset as ds
import pytest
from engine_helpers import SAMPLE_COLUMNS, component, read_samples, small_config, with_resources

from svdd_ray import engine
from svdd_ray.config import ConfigError

pytestmark = pytest.mark.timeout(240)


def run(config):
    return engine.run(config)[1]


@pytest.mark.parametrize(
    "method, options",
    [("svdd", {}), ("smc", {}), ("smc", {"population": "design"}), ("best_of_n", {}), ("refine", {"rounds": 2})]
    + [("tree_search", {"rollouts": 3}), ("particle_gibbs", {"iterations": 2})],
)
def test_local_and_ray_give_identical_samples_whatever_the_parallelism(ray_session, tmp_path, method, options):
    run(small_config(tmp_path / "local", method=method, options=options))
    expected = read_samples(tmp_path / "local")[SAMPLE_COLUMNS]
    for i, (actors, inflight) in enumerate([(1, 1), (2, 4)]):
        config = small_config(tmp_path / f"ray{i}", backend="ray", method=method, options=options)
        with_resources(config, denoiser_actors=actors, max_inflight_batches=inflight)
        run(config)
        pd.testing.assert_frame_equal(read_samples(tmp_path / f"ray{i}")[SAMPLE_COLUMNS], expected)


def test_engine_matches_in_process_sample(tmp_path):
    """Batch b of a run is exactly svdd_ray.sample with the batch's derived seed."""
    import svdd_ray
    from svdd_ray.demo import bitstrings, ones
    from svdd_ray.inprocess import batch_seed

    run(small_config(tmp_path / "run"))
    frame = read_samples(tmp_path / "run")
    model = bitstrings(length=8, num_steps=6)
    direct = svdd_ray.sample(
        model, svdd_ray.pm_value(model, ones), method="svdd", num_samples=6, num_candidates=4, seed=batch_seed(3, 2)
    )
    assert frame[frame.batch == 2].object.tolist() == direct.objects
    assert frame[frame.batch == 2].reward.tolist() == direct.rewards.tolist()


def test_a_reward_actor_that_kills_itself_still_yields_every_row(ray_session, tmp_path):
    marker = tmp_path / "crashed"
    rewards = [component("svdd_ray.testing:CrashOnce", options={"marker": str(marker)})]
    totals = run(small_config(tmp_path / "out", backend="ray", rewards=rewards))
    frame = read_samples(tmp_path / "out")
    assert marker.exists()  # it really died once
    assert len(frame) == 24 and frame["index"].tolist() == list(range(24))
    assert not frame.invalid.any() and totals["samples"] == 24


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_exceptions_and_nan_mark_objects_invalid_and_the_run_goes_on(ray_session, tmp_path, backend):
    rewards = [component("svdd_ray.testing:RaisesOn", options={"prefix": "1", "nan_prefix": "00"})]
    run(small_config(tmp_path / "out", backend=backend, rewards=rewards, method="pretrained"))
    frame = read_samples(tmp_path / "out")
    bad = frame.object.str.startswith("1") | frame.object.str.startswith("00")
    assert len(frame) == 24 and bad.any() and (~bad).any()
    assert frame.invalid.tolist() == bad.tolist()
    assert frame.reward[~bad].notna().all()


def test_a_hung_reward_call_times_out_as_invalid(ray_session, tmp_path):
    rewards = [component("svdd_ray.testing:HangsOn", options={"prefix": "1"}, timeout_s=2.0, chunk_size=1, actors=2)]
    config = small_config(tmp_path / "out", backend="ray", rewards=rewards, method="pretrained", num_samples=12)
    totals = run(config)
    frame = read_samples(tmp_path / "out")
    hung = frame.object.str.startswith("1")
    assert len(frame) == 12 and totals["timeouts"] == frame.object[hung].nunique() > 0
    assert frame.invalid.tolist() == hung.tolist()


def test_resume_finishes_the_missing_batches_and_equals_an_uninterrupted_run(tmp_path):
    run(small_config(tmp_path / "full"))
    config = small_config(tmp_path / "cut")
    run(config)
    for b in (1, 3):  # as if the run had died before writing these
        os.remove(tmp_path / "cut" / f"batch-00000{b}.parquet")
    (tmp_path / "cut" / ".batch-000001.parquet.123.tmp").write_bytes(b"half-written")
    totals = run(config)
    assert totals["batches"] == 2
    pd.testing.assert_frame_equal(
        read_samples(tmp_path / "cut")[SAMPLE_COLUMNS], read_samples(tmp_path / "full")[SAMPLE_COLUMNS]
    )
    manifest = json.loads((tmp_path / "cut" / "_manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["resumed_at"]) == 1


def test_resume_refuses_a_directory_from_another_config(tmp_path):
    run(small_config(tmp_path / "out"))
    with pytest.raises(ConfigError, match="different config"):
        run(small_config(tmp_path / "out", seed=4))


def test_parquet_schema_and_readers(ray_session, tmp_path):
    rewards = [component("ones", weight=2.0), component("sleepy_ones", options={"latency_s": 0.0})]
    run(small_config(tmp_path / "out", rewards=rewards, trace=True))
    table = ds.dataset(tmp_path / "out", format="parquet").to_table()
    assert table.num_rows == 24
    assert table.column_names == [
        "run_id",
        "batch",
        "index",
        "method",
        "num_candidates",
        "alpha",
        "seed",
        "object",
        "reward",
        "reward_ones",
        "reward_sleepy_ones",
        "invalid",
        "value_calls",
        "reward_calls",
        "calls_ones",
        "calls_sleepy_ones",
        "cache_hits",
        "denoise_time_s",
        "wall_time_s",
    ]
    frame = table.to_pandas()
    assert (frame.reward - (2 * frame.reward_ones + frame.reward_sleepy_ones)).abs().max() < 1e-12
    assert (frame.calls_ones + frame.calls_sleepy_ones == frame.reward_calls).all()
    assert (frame.value_calls == 6 * 4 * 6).all()  # batch of 6, M = 4, T = 6
    trace = pd.read_parquet(tmp_path / "out" / "_trace")
    assert sorted(trace.t.unique()) == list(range(6)) and len(trace) == 4 * 6
    ray_frame = ray_session.data.read_parquet(str(tmp_path / "out")).to_pandas()
    assert len(ray_frame) == 24
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["totals"]["samples"] == 24 and manifest["versions"]["torch"]
    assert manifest["config"]["run"]["num_candidates"] == 4


def test_the_cache_scores_each_object_once_and_persists_across_runs(tmp_path):
    cache_file = tmp_path / "cache.sqlite"
    first = run(_with_cache(tmp_path / "a", cache_file))
    frame = read_samples(tmp_path / "a")
    assert first["reward_calls"] < first["candidates_scored"]
    assert first["reward_calls"] <= 2**8  # at most one call per distinct 8-bit string
    second = run(_with_cache(tmp_path / "b", cache_file))
    assert second["reward_calls"] == 0 and second["cache_hit_rate"] == 1.0
    assert read_samples(tmp_path / "b").object.tolist() == frame.object.tolist()


def test_a_persistent_cache_never_serves_scores_made_with_other_options(tmp_path):
    cache_file = tmp_path / "cache.sqlite"
    run(_with_cache(tmp_path / "a", cache_file))
    for value in (2.0, 3.0):  # another target, then other options, under the same name
        renamed = [{**component("engine_helpers:constant", options={"value": value}), "name": "ones"}]
        totals = run(_with_cache(tmp_path / f"v{value}", cache_file, rewards=renamed))
        assert totals["reward_calls"] > 0 and (read_samples(tmp_path / f"v{value}").reward == value).all()
    again = [{**component("engine_helpers:constant", options={"value": 2.0}), "name": "ones"}]
    assert run(_with_cache(tmp_path / "again", cache_file, rewards=again))["reward_calls"] == 0


def _with_cache(out, cache_file, **kw):
    config = small_config(out, **kw)
    config.reward.cache_file = str(cache_file)
    return config


def test_require_bounds_make_objects_invalid(tmp_path):
    rewards = [component("ones", require=[0.5, None])]
    run(small_config(tmp_path / "out", rewards=rewards, method="pretrained"))
    frame = read_samples(tmp_path / "out")
    assert frame.invalid.tolist() == (frame.reward_ones < 0.5).tolist()


def test_too_few_cpus_is_a_clear_error(ray_session, tmp_path):
    config = small_config(tmp_path / "out", backend="ray", rewards=[component("ones", actors=8, num_cpus=1.0)])
    with pytest.raises(ConfigError, match="need 8.25 CPUs"):
        run(config)
    assert not (tmp_path / "out").exists()


def test_a_killed_run_resumes_to_the_same_result(tmp_path):
    """SIGKILL the CLI mid-run, run the same command again, compare with an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    config = small_config(tmp_path / "cut", rewards=[component("sleepy_ones", options={"latency_s": 0.01})])
    config.resources.max_inflight_batches = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    command = [sys.executable, "-m", "svdd_ray.cli", "run", str(path), "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "cut").glob("batch-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    written = len(list((tmp_path / "cut").glob("batch-*.parquet")))
    assert 1 <= written < 4
    subprocess.run(command, check=True, timeout=180, capture_output=True)
    run(small_config(tmp_path / "full", rewards=[component("sleepy_ones", options={"latency_s": 0.01})]))
    pd.testing.assert_frame_equal(
        read_samples(tmp_path / "cut")[SAMPLE_COLUMNS], read_samples(tmp_path / "full")[SAMPLE_COLUMNS]
    )


def test_a_busy_denoiser_takes_the_waiting_batches_in_one_call_and_the_samples_do_not_change(ray_session, tmp_path):
    """Continuous batching: work that arrives while the denoiser is busy goes in its next call, all of it, and the
    model calls of that work run stacked."""
    from svdd_ray.engine import start_executor
    from svdd_ray.engine.cache import RewardCache
    from svdd_ray.engine.driver import Driver
    from svdd_ray.engine.output import RunOutput
    from svdd_ray.rewards import build_components, key_function

    run(small_config(tmp_path / "local"))
    config = with_resources(small_config(tmp_path / "ray", backend="ray"), denoiser_actors=1, max_inflight_batches=4)
    rewards = build_components(config.reward.components)
    executor = start_executor(config, rewards)
    try:
        output = RunOutput(config)
        keys = {name: key_function(reward) for name, reward in rewards.items()}
        totals = Driver(config, executor, output, RewardCache(enabled=False), keys).run(output.open())
        calls, items = executor.denoisers.calls, executor.denoisers.items
        passes = executor.ray.get(executor.denoisers.actors[0].pass_stats.remote())
    finally:
        executor.shutdown()
    assert items > calls  # some calls carried several batches' steps
    assert max(passes.counts) > 1 and passes.passes < passes.calls  # and their model calls shared passes
    assert (totals["model_calls"], totals["model_passes"]) == (passes.calls, passes.passes)
    pd.testing.assert_frame_equal(
        read_samples(tmp_path / "ray")[SAMPLE_COLUMNS], read_samples(tmp_path / "local")[SAMPLE_COLUMNS]
    )

"""Reward plugins, safe scoring, composition, the cache, and SVDD-MC through the engine."""

import math

import numpy as np
import pytest
from engine_helpers import read_samples, small_config, with_resources

from svdd_ray import engine
from svdd_ray.config import ConfigError, PluginSpec, RewardComponent
from svdd_ray.demo import BitValueNet, bitstrings, ones
from svdd_ray.engine.cache import RewardCache
from svdd_ray.rewards import build_reward, canonical_key, combine, score_safely
from svdd_ray.values import ValueNetwork, collect_rollouts, save_value_network, train_value_network


def test_builtin_and_import_path_rewards_with_options():
    assert build_reward("ones")(["0011"]) == [0.5]
    sleepy = build_reward("svdd_ray.demo:SleepyOnes", {"latency_s": 0.0})
    assert sleepy.latency_s == 0.0 and sleepy(["1"]) == [1.0]
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        build_reward("nope")
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        build_reward("svdd_ray.demo:missing")


def test_score_safely_isolates_bad_objects():
    def picky(objects):
        if "boom" in objects:
            raise RuntimeError("boom")
        return [math.inf if o == "inf" else ("x" if o == "str" else len(o)) for o in objects]

    assert np.allclose(
        score_safely(picky, ["ab", "boom", "inf", "str", "abc"]), [2, np.nan, np.nan, np.nan, 3], equal_nan=True
    )
    assert score_safely(lambda objs: [1.0], ["a", "b"]) == [1.0, 1.0]  # wrong length: scored one by one
    assert np.isnan(score_safely(lambda objs: [1.0] * (len(objs) - 1), ["a", "b"])).all()


def test_combine_weights_clips_and_requirements():
    comps = [RewardComponent("a", weight=2.0, clip=[None, 1.0]), RewardComponent("b", weight=-1.0, require=[0.0, None])]
    out = combine(comps, {"a": np.array([0.5, 3.0, 0.1, np.nan]), "b": np.array([1.0, 1.0, -1.0, 0.0])})
    assert np.allclose(out, [0.0, 1.0, np.nan, np.nan], equal_nan=True)


def test_canonical_keys():
    assert canonical_key(ones, "0101") == "0101"
    image = np.zeros((2, 2), dtype=np.uint8)
    assert canonical_key(ones, image) == canonical_key(ones, image.copy()) != canonical_key(ones, image + 1)

    def with_key(objects):
        return [0.0] * len(objects)

    with_key.canonical_key = str.upper
    assert canonical_key(with_key, "abc") == "ABC"


def test_cache_lookup_counts_every_candidate(tmp_path):
    cache = RewardCache(tmp_path / "c.sqlite")
    found, missing = cache.lookup("r", ["a", "b", "a"])
    assert found == {} and missing == ["a", "b"] and (cache.hits, cache.misses) == (1, 2)
    cache.put("r", "a", 1.0)
    cache.put("r", "b", float("nan"))
    cache.close()
    again = RewardCache(tmp_path / "c.sqlite")
    found, missing = again.lookup("r", ["a", "b", "c"])
    assert found["a"] == 1.0 and math.isnan(found["b"]) and missing == ["c"]
    disabled = RewardCache(enabled=False)
    disabled.put("r", "a", 1.0)
    assert disabled.lookup("r", ["a"]) == ({}, ["a"])


def test_a_corrupt_cache_file_is_named(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a usable reward cache"):
        RewardCache(path)


def test_svdd_mc_runs_in_the_engine_with_rewards_only_at_the_end(tmp_path):
    model = bitstrings(length=8, num_steps=6)
    data = collect_rollouts(model, ones, num_rollouts=400, seed=0)
    value_net = ValueNetwork(BitValueNet(length=8), model.num_steps)
    train_value_network(value_net, data, epochs=5)
    save_value_network(value_net, tmp_path / "value.pt")
    config = small_config(tmp_path / "out")
    config.value.kind = "mc"
    config.value.network = PluginSpec("svdd_ray.demo:BitValueNet", {"length": 8})
    config.value.checkpoint = str(tmp_path / "value.pt")
    totals = engine.run(config)[1]
    frame = read_samples(tmp_path / "out")
    assert len(frame) == 24 and frame.reward.notna().all()
    assert totals["candidates_scored"] == 24 * 4  # only the t = 0 candidates reach the reward


def test_dps_runs_in_the_engine_with_a_configured_guide(tmp_path):
    engine.run(small_config(tmp_path / "pre", method="pretrained"))
    config = small_config(
        tmp_path / "dps", method="dps", options={"guidance_scale": 3.0}, value={"guide": "svdd_ray.demo:ones_guide"}
    )
    engine.run(config)
    assert read_samples(tmp_path / "dps").reward.mean() > read_samples(tmp_path / "pre").reward.mean() + 0.2


def test_dps_without_a_guide_is_a_config_error(tmp_path):
    from svdd_ray.config import ConfigError

    with pytest.raises(ConfigError, match="config.value.guide: required for method dps"):
        small_config(tmp_path / "x", method="dps")


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_the_engine_caches_on_a_reward_classs_own_canonical_key(request, tmp_path, backend):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    rewards = [{"target": "svdd_ray.testing:OnesByCount", "num_cpus": 0.25, "chunk_size": 8}]
    config = with_resources(small_config(tmp_path / "out", backend=backend, rewards=rewards), max_inflight_batches=1)
    totals = engine.run(config)[1]
    frame = read_samples(tmp_path / "out")
    assert frame.reward.tolist() == ones(frame.object.tolist())
    assert 1 <= totals["reward_calls"] <= 9  # 8-bit strings have 9 possible counts of ones: each scored once
    assert totals["candidates_scored"] > 100


def test_reward_actors_that_cannot_start_on_the_cluster_stop_the_run_with_one_line(ray_session, tmp_path):
    rewards = [{"target": "svdd_ray.testing:FailsOnWorkers", "num_cpus": 0.25}]
    with pytest.raises(
        ConfigError, match=r"reward.components\[0\].target: reward actors of .* fail to start .*my_rewards"
    ):
        engine.run(small_config(tmp_path / "out", backend="ray", rewards=rewards))
    assert not (tmp_path / "out").exists()  # the reward probe found it before anything was written

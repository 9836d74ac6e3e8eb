"""Surrogate pre-screening: which candidates get the expensive reward, determinism, real final rewards."""

import math

import numpy as np
import pandas as pd
import pytest
from engine_helpers import SAMPLE_COLUMNS, component, read_samples, small_config, with_resources

from svdd_ray import engine
from svdd_ray.chem.surrogates import morgan_ridge
from svdd_ray.config import ConfigError
from svdd_ray.demo import ones
from svdd_ray.surrogates import onehot_ridge, prescreen

pytestmark = pytest.mark.timeout(240)


def test_prescreen_keeps_the_top_share_and_explores_the_rest():
    predicted = np.array([0.1, 0.9, np.nan, 0.5, 0.7, 0.3, 0.2, 0.8])
    rng = np.random.default_rng(0)
    assert prescreen(predicted, 0.25, 0.0, rng).tolist() == [1, 7]  # ceil(0.25 * 8) = 2 best
    assert prescreen(predicted, 0.3, 0.0, rng).tolist() == [1, 4, 7]  # ceil(2.4) = 3
    assert prescreen(predicted, 1.0, 0.0, rng).tolist() == list(range(8))  # NaN included when all are kept
    explored = prescreen(predicted, 0.5, 0.5, np.random.default_rng(1))
    assert len(explored) == 4 and {1, 7} <= set(explored.tolist())  # 2 best + 2 drawn from the rest
    draws = {tuple(prescreen(predicted, 0.5, 0.5, np.random.default_rng(s)).tolist()) for s in range(20)}
    assert len(draws) > 1


def test_onehot_ridge_learns_a_linear_reward():
    rng = np.random.default_rng(0)
    strings = ["".join(rng.choice(list("01"), 12)) for _ in range(200)]
    surrogate = onehot_ridge("01", l2=0.1)
    assert np.isnan(surrogate.predict(strings[:3])).all()  # not fitted yet
    surrogate.fit(strings[:100], ones(strings[:100]))
    predicted = surrogate.predict(strings[100:])
    assert np.corrcoef(predicted, ones(strings[100:]))[0, 1] > 0.95
    surrogate.fit(["0101", "1111"], [math.nan, 0.3])  # fewer than two finite scores: unfitted
    assert np.isnan(surrogate.predict(["0101"])).all()


def test_morgan_ridge_ranks_held_out_molecules_by_size():
    from svdd_ray.chem.rewards import molecular_weight

    smiles = ["C" * n + "O" for n in range(1, 12)] + ["c1ccccc1" + "C" * n for n in range(1, 10)]
    train, held_out = smiles[::2], smiles[1::2]
    surrogate = morgan_ridge(l2=0.1)
    surrogate.fit(train, molecular_weight(train))
    assert np.corrcoef(surrogate.predict(held_out), molecular_weight(held_out))[0, 1] > 0.8
    assert np.isnan(surrogate.predict(["not a molecule", ""])).all()  # invalid: no guess, ranks last
    surrogate.fit([*train, "C1CC", "not a molecule"], [*molecular_weight(train), 5.0, 1.0])  # invalid rows skipped
    assert np.corrcoef(surrogate.predict(held_out), molecular_weight(held_out))[0, 1] > 0.8


PRESCREEN = {"surrogate": {"target": "onehot_ridge", "options": {"l2": 0.1}}, "keep": 0.25, "min_scored": 8}


def long_strings(config):
    """16-bit strings: few repeats, so the cache does not hide what pre-screening saves."""
    config.model.options = {"length": 16, "num_steps": 6}
    return config


def prescreened(out, backend="local", **prescreen_options):
    rewards = [component("ones", prescreen={**PRESCREEN, **prescreen_options})]
    return long_strings(small_config(out, backend=backend, rewards=rewards))


def test_prescreening_spends_fewer_calls_and_final_rewards_are_real(tmp_path):
    _, full = engine.run(long_strings(small_config(tmp_path / "full")))
    _, cheap = engine.run(prescreened(tmp_path / "cheap"))
    frame = read_samples(tmp_path / "cheap")
    assert frame.reward.tolist() == ones(frame.object.tolist())  # outputs carry the true reward
    assert cheap["surrogate_values"] > 0
    assert cheap["reward_calls"] < 0.6 * full["reward_calls"]
    assert frame.reward_calls.groupby(frame.batch).first().sum() == cheap["reward_calls"]


def test_keep_everything_equals_no_prescreening(tmp_path):
    engine.run(long_strings(small_config(tmp_path / "full")))
    _, totals = engine.run(prescreened(tmp_path / "all", keep=1.0, explore=0.0))
    assert totals["surrogate_values"] == 0
    pd.testing.assert_frame_equal(
        read_samples(tmp_path / "all")[SAMPLE_COLUMNS], read_samples(tmp_path / "full")[SAMPLE_COLUMNS]
    )


def test_prescreened_runs_do_not_depend_on_timing_or_the_cache(ray_session, tmp_path):
    engine.run(prescreened(tmp_path / "local"))
    expected = read_samples(tmp_path / "local")[SAMPLE_COLUMNS]
    uncached = prescreened(tmp_path / "uncached")
    uncached.reward.cache = False
    engine.run(uncached)
    pd.testing.assert_frame_equal(read_samples(tmp_path / "uncached")[SAMPLE_COLUMNS], expected)
    wide = with_resources(prescreened(tmp_path / "ray", backend="ray"), denoiser_actors=2, max_inflight_batches=4)
    engine.run(wide)
    pd.testing.assert_frame_equal(read_samples(tmp_path / "ray")[SAMPLE_COLUMNS], expected)


def test_an_online_surrogate_from_the_first_step_does_not_depend_on_batches_in_flight(tmp_path):
    """``min_scored: 0``: a batch's first step must not be ranked by what another batch fitted before it."""
    frames = []
    for inflight in (1, 3):
        config = with_resources(prescreened(tmp_path / f"in{inflight}", min_scored=0), max_inflight_batches=inflight)
        engine.run(config)
        frames.append(read_samples(tmp_path / f"in{inflight}")[SAMPLE_COLUMNS])
    pd.testing.assert_frame_equal(*frames)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"keep": 0.0}, r"prescreen\.keep: must be in \(0, 1\], got 0\.0"),
        ({"explore": 1.5}, r"prescreen\.explore: must be in \[0, 1\], got 1\.5"),
        ({"min_scored": -1}, r"prescreen\.min_scored: must be >= 0"),
    ],
)
def test_bad_prescreen_options_are_refused(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        prescreened(tmp_path / "x", **options)


def test_an_unknown_surrogate_is_refused_before_anything_is_written(tmp_path):
    config = prescreened(tmp_path / "x", surrogate={"target": "onehot_rigde"})
    with pytest.raises(ConfigError, match=r"prescreen\.surrogate\.target: .*did you mean 'onehot_ridge'"):
        engine.run(config)
    assert not (tmp_path / "x").exists()


def frozen_onehot(path, reward, seed=0):
    """A one-hot ridge fitted offline on ``reward`` of 200 random 16-bit strings, saved to ``path``."""
    from svdd_ray.surrogates import save_surrogate

    rng = np.random.default_rng(seed)
    strings = ["".join(rng.choice(list("01"), 16)) for _ in range(200)]
    ridge = onehot_ridge("01", l2=0.1)
    ridge.fit(strings, reward(strings))
    save_surrogate(ridge.frozen(), path, alphabet="01")
    return ridge, strings


def test_a_frozen_surrogate_predicts_as_fitted_and_learns_nothing_online(tmp_path):
    ridge, strings = frozen_onehot(tmp_path / "ones.npz", ones)
    loaded = onehot_ridge("01", weights=str(tmp_path / "ones.npz"))
    np.testing.assert_allclose(loaded.predict(strings[:20]), ridge.predict(strings[:20]), atol=1e-9)
    before = loaded.predict(strings[:20])
    loaded.fit(strings[:50], [0.0] * 50)
    np.testing.assert_array_equal(loaded.predict(strings[:20]), before)
    assert [p.name for p in tmp_path.iterdir()] == ["ones.npz"]  # nothing half-written beside it
    with pytest.raises(ValueError, match=r"fitted with alphabet='01', not 'ACGT'"):
        onehot_ridge("ACGT", weights=str(tmp_path / "ones.npz"))


def negated_ones(objects):
    return [-v for v in ones(objects)]


def best_of_8(out, weights, **prescreen_options):
    frozen = {"target": "onehot_ridge", "options": {"weights": str(weights)}}
    options = {"surrogate": frozen, "keep": 0.25, "explore": 0.0, "min_scored": 0, "final": True}
    rewards = [component("ones", prescreen={**options, **prescreen_options})]
    return long_strings(small_config(out, method="best_of_n", num_candidates=8, rewards=rewards))


def test_final_prescreening_scores_each_chains_top_picks_only(tmp_path):
    frozen_onehot(tmp_path / "good.npz", ones)
    frozen_onehot(tmp_path / "bad.npz", negated_ones)
    _, full = engine.run(best_of_8(tmp_path / "full", tmp_path / "good.npz", final=False))
    _, good = engine.run(best_of_8(tmp_path / "good", tmp_path / "good.npz"))
    _, bad = engine.run(best_of_8(tmp_path / "bad", tmp_path / "bad.npz"))
    assert full["reward_calls"] > 6 * 24 and full["screened_out"] == 0  # 8 per chain, less a few repeats
    assert good["reward_calls"] <= 2 * 24 and good["screened_out"] >= 5 * 24  # 2 of 8 per chain
    for name in ("full", "good", "bad"):
        frame = read_samples(tmp_path / name)
        assert frame.reward.tolist() == ones(frame.object.tolist())  # every output's reward is real
    rewards = {name: read_samples(tmp_path / name).reward.mean() for name in ("full", "good", "bad")}
    assert rewards["full"] - 0.03 <= rewards["good"] <= rewards["full"]  # the surrogate's top 2 hold the best
    assert rewards["bad"] < rewards["good"] - 0.15  # the surrogate decides which candidates can win


def test_final_prescreening_keeping_everything_is_plain_best_of_n(tmp_path):
    frozen_onehot(tmp_path / "good.npz", ones)
    engine.run(best_of_8(tmp_path / "full", tmp_path / "good.npz", final=False))
    engine.run(best_of_8(tmp_path / "all", tmp_path / "good.npz", keep=1.0))
    pd.testing.assert_frame_equal(
        read_samples(tmp_path / "all")[SAMPLE_COLUMNS], read_samples(tmp_path / "full")[SAMPLE_COLUMNS]
    )


def test_a_missing_surrogate_file_is_refused_before_anything_is_written(tmp_path):
    config = best_of_8(tmp_path / "x", tmp_path / "absent.npz")
    with pytest.raises(ConfigError, match=r"prescreen\.surrogate\.target: building surrogate 'onehot_ridge' failed"):
        engine.run(config)
    assert not (tmp_path / "x").exists()


def test_a_frozen_surrogate_serves_as_a_cheap_reward(tmp_path):
    from svdd_ray.plugins import build

    ridge, strings = frozen_onehot(tmp_path / "ones.npz", ones)
    reward = build("reward", "surrogate", {"surrogate": "onehot_ridge", "weights": str(tmp_path / "ones.npz")})
    np.testing.assert_allclose(reward(strings[:10]), ridge.predict(strings[:10]), atol=1e-9)
    with pytest.raises(ConfigError, match=r"^reward options: weights: required"):
        build("reward", "surrogate", {"surrogate": "onehot_ridge"})


def test_final_prescreening_with_exploration_is_the_same_on_every_backend(ray_session, tmp_path):
    frozen_onehot(tmp_path / "good.npz", ones)
    engine.run(best_of_8(tmp_path / "local", tmp_path / "good.npz", keep=0.5, explore=0.5))
    expected = read_samples(tmp_path / "local")[SAMPLE_COLUMNS]
    wide = best_of_8(tmp_path / "ray", tmp_path / "good.npz", keep=0.5, explore=0.5)
    engine.run(with_resources(wide, backend="ray", denoiser_actors=2, max_inflight_batches=4))
    pd.testing.assert_frame_equal(read_samples(tmp_path / "ray")[SAMPLE_COLUMNS], expected)

"""Selection plans: select every k steps and only inside a window; exact where the theory says so, cheaper always."""

import pytest
import torch
from engine_helpers import small_config
from toys import BinaryToy, tv

import svdd_ray
from svdd_ray import engine
from svdd_ray.config import ConfigError
from svdd_ray.samplers import selection_plan

N = 20_000


@pytest.fixture(scope="module")
def toy():
    return BinaryToy(length=4, num_steps=4, seed=0)


@pytest.mark.parametrize(
    "steps,every,window,guided,selecting",
    [
        (4, 1, (0.0, 1.0), {1, 2, 3, 4}, {1, 2, 3, 4}),
        (4, 2, (0.0, 1.0), {1, 2, 3, 4}, {1, 3}),
        (10, 2, (0.4, 1.0), {1, 2, 3, 4, 5, 6}, {1, 3, 5}),
        (4, 1, (0.0, 0.5), {3, 4}, {3, 4}),
        (10, 3, (0.0, 0.5), {6, 7, 8, 9, 10}, {6, 9}),  # a window ends on a selection
    ],
)
def test_the_plan_names_the_guided_and_the_selecting_steps(steps, every, window, guided, selecting):
    assert selection_plan(steps, every, window) == (guided, selecting)


@pytest.mark.parametrize(
    "every,window,message",
    [(0, (0.0, 1.0), "select_every must be an integer >= 1"), (1, (0.6, 0.4), "0 <= start < stop <= 1")],
)
def test_bad_plans_are_refused(every, window, message):
    with pytest.raises(ValueError, match=message):
        selection_plan(4, every, window)


@pytest.mark.parametrize("method", ["svdd", "smc"])
def test_selecting_every_other_step_still_reaches_the_tilted_target(toy, method):
    """SVDD's candidates are 2-step rollouts from the last selected state (exact as M grows); SMC telescopes."""
    kw = {"num_candidates": 16} if method == "svdd" else {}
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method=method, num_samples=N, alpha=1.0, seed=7, select_every=2, **kw
    )
    assert tv(toy.empirical(out.x0), toy.target(1.0)) < 0.03


@pytest.mark.parametrize(
    "method,options,expected",
    [
        ("svdd", {"select_every": 2}, 64 * 4 * 2),  # selections at t = 3 and 1
        ("beam", {"select_every": 4}, 64 * 4 * 1),
        ("svdd", {"select_steps": [0.0, 0.5]}, 64 * 4 * 2 + 64),  # t = 4, 3, then the final rewards
        ("smc", {"select_every": 2}, 64 * 4 * 2),  # particles scored at t = 3 and 1 (not at T: not selecting)
    ],
)
def test_value_calls_count_only_the_selecting_steps(toy, method, options, expected):
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method=method, num_samples=64, num_candidates=4, alpha=1.0, seed=0, **options
    )
    assert out.value_calls == expected
    again = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method=method, num_samples=64, num_candidates=4, alpha=1.0, seed=0, **options
    )
    assert torch.equal(out.x0, again.x0)


def test_the_engine_pays_rewards_only_at_selecting_steps(tmp_path):
    every = engine.run(small_config(tmp_path / "k1", options={}))[1]
    sparse = engine.run(small_config(tmp_path / "k3", options={"select_every": 3}))[1]
    assert every["candidates_scored"] == 24 * 4 * 6 and sparse["candidates_scored"] == 24 * 4 * 2
    assert sparse["reward_calls"] < every["reward_calls"]


def test_a_bad_plan_in_a_config_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config.run.options: select_steps must be \[start, stop\]"):
        small_config(tmp_path / "x", options={"select_steps": 0.5})


def test_the_old_name_of_select_steps_is_refused_naming_the_new_one(tmp_path):
    with pytest.raises(ConfigError, match=r"run.options.select_window: renamed to config.run.options.select_steps"):
        small_config(tmp_path / "x", options={"select_window": [0.5, 1.0]})


def test_best_of_n_keep_is_now_pick(tmp_path):
    with pytest.raises(ConfigError, match=r"run.options.keep: renamed to config.run.options.pick"):
        small_config(tmp_path / "x", method="best_of_n", options={"keep": "top"})

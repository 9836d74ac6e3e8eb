"""The public sampling API: determinism, accounting of value calls, and errors on bad input."""

import pytest
import torch
from toys import BinaryToy

import svdd_ray
from svdd_ray.inprocess import batch_seed, sampler_options
from svdd_ray.samplers import METHODS
from svdd_ray.selection import select_candidates, top_k

#: Every method that needs no differentiable guide (dps is tested against exact targets elsewhere).
ALL = [m for m in METHODS if "guide" not in sampler_options(m)]


@pytest.fixture(scope="module")
def toy():
    return BinaryToy(length=4, num_steps=4, seed=1)


def run(toy, method, seed=0, **kw):
    kw.setdefault("alpha", 1.0 if method == "smc" else 0.5)
    return svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method=method, num_samples=64, num_candidates=4, seed=seed, **kw
    )


@pytest.mark.parametrize("method", ALL)
def test_same_seed_same_samples_other_seed_other_samples(toy, method):
    a, b, c = run(toy, method, seed=3), run(toy, method, seed=3), run(toy, method, seed=4)
    assert torch.equal(a.x0, b.x0) and torch.equal(a.rewards, b.rewards)
    assert not torch.equal(a.x0, c.x0)


@pytest.mark.parametrize(
    "method,expected",
    [
        ("pretrained", 64),  # the final rewards only
        ("best_of_n", 64 * 4),
        ("svdd", 64 * 4 * 4),  # N * M per step, T = 4 steps
        ("beam", 64 * 4 * 4),
        ("smc", 64 * 4 * 5),  # N * M particles at T..0
    ],
)
def test_value_calls_count_the_states_scored(toy, method, expected):
    seen = []

    def counting(x, t):
        seen.append(len(x))
        return toy.exact_value(1.0)(x, t)

    out = svdd_ray.sample(
        toy.model, counting, method=method, num_samples=64, num_candidates=4, alpha=1.0 if method == "smc" else 0.0
    )
    assert out.value_calls == sum(seen) == expected


@pytest.mark.parametrize("method", ALL)
def test_results_have_one_row_per_sample_and_rewards_of_the_final_states(toy, method):
    out = run(toy, method)
    assert out.x0.shape == (64, 4) and len(out.objects) == 64 and out.rewards.shape == (64,)
    assert torch.allclose(out.rewards, toy.reward[toy.string_index(out.x0)])
    assert out.objects == out.x0.tolist()


def test_invalid_states_are_never_chosen_when_a_valid_one_exists(toy):
    exact = toy.exact_value(1.0)

    def odd_strings_invalid(x, t):
        v = exact(x, t).clone()
        v[(x == 1).sum(-1) % 2 == 1] = float("nan")
        return v

    # The final choice of these methods sees every candidate; svdd's greedy path may not.
    for method in ("beam", "best_of_n", "smc"):
        out = svdd_ray.sample(
            toy.model,
            odd_strings_invalid,
            method=method,
            num_samples=200,
            num_candidates=16,
            alpha=1.0 if method == "smc" else 0.0,
            seed=1,
        )
        assert torch.isfinite(out.rewards).all(), method


@pytest.mark.parametrize("alpha", [0.0, 0.1, 10.0])
def test_selection_skips_invalid_candidates(alpha):
    values = torch.tensor([[float("nan"), -5.0, float("inf")], [float("-inf"), float("nan"), 3.0]] * 500)
    pick = select_candidates(values, alpha, torch.Generator().manual_seed(0))
    assert torch.all(pick[0::2] == 1) and torch.all(pick[1::2] == 2)
    assert torch.equal(top_k(torch.tensor([float("nan"), 1.0, -2.0]), 2), torch.tensor([1, 2]))


def test_all_invalid_candidates_do_not_crash(toy):
    def nothing_valid(x, t):
        return torch.full((len(x),), float("inf"))

    for method in ("svdd", "smc", "beam", "best_of_n"):
        out = svdd_ray.sample(
            toy.model, nothing_valid, method=method, num_samples=8, num_candidates=2, alpha=1.0, seed=0
        )
        assert out.rewards.isnan().all(), method


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="nope"), "method must be one of"),
        (dict(method="svdd", num_samples=0), "num_samples"),
        (dict(method="svdd", num_samples=2.5), "num_samples"),
        (dict(method="svdd", num_candidates=0), "num_candidates"),
        (dict(method="svdd", alpha=-1.0), "alpha"),
        (dict(method="svdd", alpha=float("nan")), "alpha"),
        (dict(method="smc", alpha=0.0), "alpha > 0"),
        (dict(method="smc", alpha=1.0, ess_threshold=2.0), "ess_threshold"),
        (dict(method="smc", alpha=1.0, resampling="stratified"), "resampling"),
        (dict(method="best_of_n", pick="all"), "pick"),
        (dict(method="svdd", temperature=1.0), "has no option 'temperature'"),
    ],
)
def test_bad_arguments_raise_clear_errors(toy, kwargs, match):
    kwargs.setdefault("num_samples", 4)
    with pytest.raises(ValueError, match=match):
        svdd_ray.sample(toy.model, toy.exact_value(1.0), **kwargs)


def test_a_value_of_the_wrong_shape_is_named(toy):
    with pytest.raises(ValueError, match=r"value returned shape \(3,\) for 8 states"):
        svdd_ray.sample(toy.model, lambda x, t: torch.zeros(3), method="svdd", num_samples=2, num_candidates=4)


def test_a_reward_returning_too_few_scores_is_named(toy):
    bad = svdd_ray.pm_value(toy.model, lambda objects: [0.0])
    with pytest.raises(ValueError, match="reward returned shape"):
        svdd_ray.sample(toy.model, bad, method="pretrained", num_samples=3)


def test_options_are_listed_per_method():
    assert sampler_options("smc") == ["ess_threshold", "resampling", "population", "select_every", "select_steps"]
    assert sampler_options("refine") == ["rounds", "renoise_to", "init"]
    assert sampler_options("tree_search") == ["rollouts", "exploration"]
    assert sampler_options("svdd") == ["select_every", "select_steps"]
    assert sampler_options("dps") == ["guide", "guidance_scale"]


def test_batch_seeds_are_distinct_and_stable():
    seeds = {batch_seed(0, b) for b in range(1000)} | {batch_seed(1, b) for b in range(1000)}
    assert len(seeds) == 2000
    assert batch_seed(7, 3) == batch_seed(7, 3) and 0 <= batch_seed(7, 3) < 2**63


def test_models_satisfy_the_protocol(toy):
    assert isinstance(toy.model, svdd_ray.DiffusionModel)

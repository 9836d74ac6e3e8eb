"""Samplers against exact targets on an enumerable masked diffusion over binary strings.

Tolerances: with n = 20,000 draws over 16 outcomes the sampling noise of the TV distance is
about 0.01, so a bound of 0.03 fails only on real bias; the pretrained-vs-target distance is
0.21, so passing bounds cannot be met by sampling from the wrong distribution.
"""

import pytest
import torch
from toys import BinaryToy, tv

import svdd_ray
from svdd_ray.values import pm_value

N = 20_000


@pytest.fixture(scope="module")
def toy():
    return BinaryToy(length=4, num_steps=4, seed=0)


def test_the_target_differs_from_the_prior(toy):
    assert tv(toy.p_pre, toy.target(1.0)) > 0.15


def test_pretrained_reproduces_p_pre(toy):
    out = svdd_ray.sample(toy.model, toy.exact_value(1.0), method="pretrained", num_samples=N, seed=1)
    assert tv(toy.empirical(out.x0), toy.p_pre) < 0.03


def test_svdd_with_exact_soft_value_approaches_the_tilted_target(toy):
    target = toy.target(1.0)
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method="svdd", num_samples=N, num_candidates=16, alpha=1.0, seed=1
    )
    assert tv(toy.empirical(out.x0), target) < 0.03


def test_svdd_error_shrinks_as_m_grows(toy):
    target = toy.target(0.5)
    errors = []
    for m in (2, 32):
        out = svdd_ray.sample(
            toy.model, toy.exact_value(0.5), method="svdd", num_samples=N, num_candidates=m, alpha=0.5, seed=2
        )
        errors.append(tv(toy.empirical(out.x0), target))
    assert errors[1] < 0.03 < errors[0]


def test_smc_with_many_particles_approaches_the_target(toy):
    target = toy.target(1.0)
    for resampling in ("systematic", "multinomial"):
        out = svdd_ray.sample(
            toy.model, toy.exact_value(1.0), method="smc", num_samples=N, alpha=1.0, seed=3, resampling=resampling
        )
        assert tv(toy.empirical(out.x0), target) < 0.03, resampling


def test_smc_with_adaptive_resampling_approaches_the_target(toy):
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method="smc", num_samples=N, alpha=1.0, seed=4, ess_threshold=0.5
    )
    assert tv(toy.empirical(out.x0), toy.target(1.0)) < 0.03


def test_smc_per_design_resamples_only_within_each_design(toy):
    """One particle per design: nothing to resample among, so the designs are the prior's draws, while the
    same particles as one population follow the target (the test above)."""
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method="smc", num_samples=N, alpha=1.0, seed=3, population="design"
    )
    assert tv(toy.empirical(out.x0), toy.p_pre) < 0.03


@pytest.mark.parametrize("resampling", ["systematic", "multinomial"])
def test_smc_per_design_with_many_particles_approaches_the_target(toy, resampling):
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method="smc", num_samples=N // 4, num_candidates=16, alpha=1.0, seed=6,
        resampling=resampling, population="design", ess_threshold=0.5,
    )  # fmt: skip
    assert tv(toy.empirical(out.x0), toy.target(1.0)) < 0.04


def test_svdd_alpha_zero_concentrates_on_the_best_string(toy):
    best = torch.where(toy.p_pre > 0, toy.reward, -torch.inf).argmax()
    assert toy.p_pre[best] < 0.1
    out = svdd_ray.sample(
        toy.model, toy.exact_value(0.0), method="svdd", num_samples=2000, num_candidates=64, alpha=0.0, seed=5
    )
    assert (toy.string_index(out.x0) == best).double().mean() > 0.99


def test_beam_finds_the_best_string(toy):
    best = torch.where(toy.p_pre > 0, toy.reward, -torch.inf).argmax()
    out = svdd_ray.sample(toy.model, toy.exact_value(0.0), method="beam", num_samples=500, num_candidates=16, seed=6)
    assert (toy.string_index(out.x0) == best).all()
    assert torch.all(out.rewards[:-1] >= out.rewards[1:])


def test_svdd_with_one_candidate_is_pretrained_in_distribution(toy):
    out = svdd_ray.sample(
        toy.model, toy.exact_value(1.0), method="svdd", num_samples=N, num_candidates=1, alpha=1.0, seed=7
    )
    assert tv(toy.empirical(out.x0), toy.p_pre) < 0.03


def test_svdd_with_one_candidate_and_alpha_zero_equals_pretrained_draw_for_draw(toy):
    value = toy.exact_value(1.0)
    a = svdd_ray.sample(toy.model, value, method="svdd", num_samples=500, num_candidates=1, seed=8)
    b = svdd_ray.sample(toy.model, value, method="pretrained", num_samples=500, seed=8)
    assert torch.equal(a.x0, b.x0)


def test_best_of_n_matches_the_exact_distribution_of_the_best_of_m(toy):
    m = 4
    order = torch.argsort(toy.reward)
    cdf = torch.cumsum(toy.p_pre[order], 0)
    below = torch.cat([torch.zeros(1, dtype=cdf.dtype), cdf[:-1]])
    exact = torch.zeros_like(toy.p_pre)
    exact[order] = cdf**m - below**m
    reward = pm_value(toy.model, toy.reward_fn)
    out = svdd_ray.sample(toy.model, reward, method="best_of_n", num_samples=N, num_candidates=m, seed=9)
    assert tv(toy.empirical(out.x0), exact) < 0.03
    assert torch.allclose(out.rewards, toy.reward[toy.string_index(out.x0)])


def test_best_of_n_global_top_keeps_the_best_overall(toy):
    reward = pm_value(toy.model, toy.reward_fn)
    top = svdd_ray.sample(
        toy.model, reward, method="best_of_n", num_samples=100, num_candidates=10, seed=10, pick="top"
    )
    pool = svdd_ray.sample(toy.model, reward, method="pretrained", num_samples=1000, seed=10)
    assert torch.equal(top.rewards, torch.sort(pool.rewards, descending=True).values[:100])


def test_pm_value_guidance_raises_the_reward(toy):
    reward = pm_value(toy.model, toy.reward_fn)
    pre = svdd_ray.sample(toy.model, reward, method="pretrained", num_samples=2000, seed=11)
    guided = svdd_ray.sample(toy.model, reward, method="svdd", num_samples=2000, num_candidates=8, seed=11)
    assert guided.rewards.mean() > pre.rewards.mean() + 0.2


def test_masked_dps_tilts_towards_a_differentiable_reward(toy):
    weights = torch.tensor([1.0, -1.0, 0.0])  # favour token 0, disfavour token 1, ignore masks

    def guide(onehot, t):
        return (onehot * weights).sum(dim=(1, 2))

    def ones_count(x, t):
        return (x == 0).sum(-1).double()

    pre = svdd_ray.sample(toy.model, ones_count, method="pretrained", num_samples=4000, seed=12)
    dps = svdd_ray.sample(
        toy.model, ones_count, method="dps", num_samples=4000, seed=12, guide=guide, guidance_scale=2.0
    )
    assert ones_count(dps.x0, 0).mean() > ones_count(pre.x0, 0).mean() + 0.5


def test_dps_rejects_a_guide_without_gradient(toy):
    def hard_guide(onehot, t):
        return onehot.argmax(-1).sum(-1).double()

    with pytest.raises(TypeError, match="differentiable"):
        svdd_ray.sample(toy.model, toy.exact_value(1.0), method="dps", num_samples=4, guide=hard_guide)


# The DNA prior's denoiser shape: four letters and a mask (3 positions: 64 strings, 125 states).
# With 20,000 draws over 64 outcomes the TV sampling noise is at most about 0.02; the bound is 0.04.


@pytest.fixture(scope="module")
def acgt_toy():
    return BinaryToy(length=3, num_steps=3, seed=1, vocab=4)


def test_four_letter_target_differs_from_the_prior(acgt_toy):
    assert tv(acgt_toy.p_pre, acgt_toy.target(0.5)) > 0.15


@pytest.mark.parametrize("method", ["pretrained", "svdd", "smc"])
def test_four_letter_samplers_match_their_exact_targets(acgt_toy, method):
    target = acgt_toy.p_pre if method == "pretrained" else acgt_toy.target(0.5)
    out = svdd_ray.sample(
        acgt_toy.model,
        acgt_toy.exact_value(0.5),
        method=method,
        num_samples=N,
        num_candidates=16 if method == "svdd" else 1,
        alpha=0.5,
        seed=4,
    )
    assert int(out.x0.max()) <= 3
    assert tv(acgt_toy.empirical(out.x0), target) < 0.04


def test_masked_renoise_masks_each_position_with_probability_t_over_T(toy):
    x0 = toy.strings[toy.p_pre.multinomial(20_000, replacement=True, generator=torch.Generator().manual_seed(0))]
    for t in (1, 2, 3):
        x = toy.model.renoise(x0, t, torch.Generator().manual_seed(t))
        masked = x == toy.model.mask_id
        assert abs(masked.double().mean().item() - t / toy.model.num_steps) < 0.01
        assert torch.equal(x[~masked], x0[~masked])


def test_refine_without_rounds_is_best_of_init(toy):
    kwargs = dict(num_samples=500, num_candidates=4, seed=7)
    refined = svdd_ray.sample(toy.model, toy.exact_value(0.0), method="refine", rounds=0, init=4, **kwargs)
    best = svdd_ray.sample(toy.model, toy.exact_value(0.0), method="best_of_n", **kwargs)
    assert torch.equal(refined.x0, best.x0) and torch.equal(refined.rewards, best.rewards)
    assert refined.value_calls == best.value_calls == 2000


def test_greedy_refinement_never_loses_and_finds_the_best_string(toy):
    """Each round draws after the earlier ones, so k + 1 rounds extend k rounds' run: per design the reward
    never falls, the rewards are those of the returned strings, and the rare best string takes over."""
    best = torch.where(toy.p_pre > 0, toy.reward, -torch.inf).argmax()
    runs = [
        svdd_ray.sample(
            toy.model,
            toy.exact_value(0.0),
            method="refine",
            num_samples=2000,
            num_candidates=2,
            seed=1,
            rounds=rounds,
            renoise_to=0.5,
        )  # fmt: skip
        for rounds in (0, 1, 2, 8)
    ]
    for before, after in zip(runs, runs[1:]):
        assert (after.rewards >= before.rewards).all()
    for run, rounds in zip(runs, (0, 1, 2, 8)):
        assert torch.equal(run.rewards, toy.reward[toy.string_index(run.x0)])
        assert run.value_calls == 2000 * (1 + 2 * rounds)
    share = [(toy.string_index(run.x0) == best).double().mean().item() for run in runs]
    assert share[0] < 0.1 and share[-1] > 0.6


def test_refine_refuses_bad_options(toy):
    for options, message in [
        ({"rounds": -1}, "rounds must be an integer >= 0"),
        ({"init": 0}, "init must be an integer >= 1"),
        ({"renoise_to": 0.0}, r"renoise_to must be in \(0, 1\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            svdd_ray.sample(toy.model, toy.exact_value(0.0), method="refine", num_samples=2, **options)


def test_tree_search_with_one_rollout_is_a_pretrained_sample(toy):
    out = svdd_ray.sample(toy.model, toy.exact_value(0.0), method="tree_search", num_samples=N, seed=1, rollouts=1)
    assert tv(toy.empirical(out.x0), toy.p_pre) < 0.03 and out.value_calls == N


@pytest.mark.parametrize("options", [{}, {"alpha": 0.3}, {"exploration": 0.0}])
def test_tree_search_returns_its_best_scored_sample_and_improves_with_rollouts(toy, options):
    best = torch.where(toy.p_pre > 0, toy.reward, -torch.inf).argmax()
    share = []
    for rollouts in (1, 16):
        out = svdd_ray.sample(
            toy.model, toy.exact_value(0.0), method="tree_search", num_samples=2000, num_candidates=4, seed=1,
            rollouts=rollouts, **options,
        )  # fmt: skip
        assert torch.equal(out.rewards, toy.reward[toy.string_index(out.x0)])
        assert out.value_calls <= 2000 * rollouts
        share.append((toy.string_index(out.x0) == best).double().mean().item())
    assert share[0] < 0.1 and share[1] > 0.4


def test_tree_search_stops_when_every_tree_is_explored(toy):
    """Two children per node and 4 steps: 2 + 4 + 8 + 16 = 30 nodes, so 30 rollouts, however many are asked for."""
    out = svdd_ray.sample(
        toy.model, toy.exact_value(0.0), method="tree_search", num_samples=50, num_candidates=2, seed=2, rollouts=100
    )
    assert out.value_calls == 50 * 30


def test_tree_search_refuses_bad_options(toy):
    for options, message in [
        ({"rollouts": 0}, "rollouts must be an integer >= 1"),
        ({"exploration": -1.0}, "exploration must be a finite number >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            svdd_ray.sample(toy.model, toy.exact_value(0.0), method="tree_search", num_samples=2, **options)

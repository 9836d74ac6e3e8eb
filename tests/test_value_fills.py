"""PM value fills on masked models (``value.fill``): what the reward reads for a partly masked state."""

import numpy as np
import pytest
import torch
from toys import BinaryToy

from svdd_ray import engine
from svdd_ray.config import ConfigError, load_config
from svdd_ray.models import GaussianDiffusion
from svdd_ray.values import PMValue, check_fill, pm_value


@pytest.fixture(scope="module")
def toy():
    return BinaryToy(length=4, num_steps=4, seed=0)


def probability_reward(objects):
    """Reads strings (lists of tokens) or [length, 2] probabilities: the expected number of ones."""
    return [float(np.asarray(o)[:, 1].sum()) if isinstance(o, np.ndarray) else float(sum(o)) for o in objects]


probability_reward.reads_probabilities = True


def partly_masked(toy, n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = toy.model.sample_prior(n, generator)
    for t in (4, 3):
        x = toy.model.propose(x, t, generator)
    return x  # a state at t = 2: some positions revealed, some masked


def test_soft_and_uniform_fills_are_one_hot_where_revealed(toy):
    x = partly_masked(toy)
    masked = x == toy.model.mask_id
    assert masked.any() and (~masked).any()
    soft = toy.model.x0_probabilities(x, 2, "soft")
    uniform = toy.model.x0_probabilities(x, 2, "uniform")
    expected = torch.softmax(toy.model.x0_logits(x, 2).float(), dim=-1)
    for probs in (soft, uniform):
        assert probs.shape == (len(x), 4, 2) and torch.allclose(probs.sum(-1), torch.ones(len(x), 4))
        assert torch.equal(probs[~masked].argmax(-1), x[~masked]) and (probs[~masked].max(-1).values == 1).all()
    assert torch.allclose(soft[masked], expected[masked])
    assert (uniform[masked] == 0.5).all()
    final = toy.model.predict_x0(x, 2)
    assert torch.equal(toy.model.x0_probabilities(final, 0, "soft"), torch.nn.functional.one_hot(final, 2).float())


def test_sampled_completions_follow_the_x0_marginals(toy):
    """Masked positions are drawn from x0_hat's per-position marginals; revealed ones are kept."""
    x = partly_masked(toy, n=1, seed=3).expand(20_000, -1)
    draws = toy.model.sample_x0(x, 2, torch.Generator().manual_seed(0))
    masked = x[0] == toy.model.mask_id
    assert (draws != toy.model.mask_id).all() and torch.equal(draws[:, ~masked], x[:, ~masked])
    expected = torch.softmax(toy.model.x0_logits(x[:1], 2).float(), dim=-1)[0, :, 1]
    assert torch.allclose(draws.float().mean(0)[masked], expected[masked], atol=0.015)


def test_each_fill_is_what_the_reward_reads(toy):
    x = partly_masked(toy)
    soft = pm_value(toy.model, probability_reward, "soft")
    expected = toy.model.x0_probabilities(x, 2, "soft")[..., 1].sum(-1).double()
    assert torch.allclose(soft(x, 2), expected)
    argmax = pm_value(toy.model, probability_reward, "argmax")
    assert torch.equal(argmax(x, 2), toy.model.predict_x0(x, 2).sum(-1).double())
    sampled = pm_value(toy.model, probability_reward, "sample")
    assert torch.equal(sampled(x, 2), sampled(x, 2))  # seeded by the states' content: same on every backend
    final = toy.model.predict_x0(x, 2)
    for fill in ("soft", "uniform", "sample"):  # at t = 0 every fill scores the decoded design
        assert pm_value(toy.model, probability_reward, fill).objects(final, 0) == final.tolist()


def test_bad_fills_are_one_line_errors(toy):
    with pytest.raises(ValueError, match="fill: must be one of argmax, sample, soft, uniform, got 'mean'"):
        pm_value(toy.model, probability_reward, "mean")
    with pytest.raises(ValueError, match="fill: 'soft' sends per-position probabilities, and reward 'reward'"):
        pm_value(toy.model, toy.reward_fn, "soft")
    pm_value(toy.model, toy.reward_fn, "sample")  # decoded designs: any reward reads them
    gaussian = GaussianDiffusion(torch.nn.Linear(2, 2), shape=(2,), num_steps=3)
    with pytest.raises(ValueError, match="'uniform' needs a masked model .x0_probabilities.; GaussianDiffusion"):
        check_fill("uniform", gaussian)
    assert isinstance(pm_value(gaussian, probability_reward), PMValue)


@pytest.mark.parametrize(
    "override, message",
    [
        ("value.fill=mean", "value.fill: must be one of argmax, sample, soft, uniform, got 'mean'"),
        ("value.fill=soft", "value.fill: 'soft' sends per-position probabilities, and reward 'ones' reads only"),
    ],
)
def test_config_errors_name_value_fill_and_write_nothing(tmp_path, override, message):
    out = tmp_path / "run"
    overrides = [override, f"run.output_dir={out}", "resources.backend=local", "run.num_samples=2"]
    with pytest.raises(ConfigError, match=message):
        engine.run(load_config("configs/demo_bitstrings.yaml", overrides))
    assert not out.exists()


def test_value_quality_rises_with_what_the_state_reveals(toy):
    from svdd_ray.values import value_quality

    rows = value_quality(toy.model, toy.exact_value(0.0), num_rollouts=4000, seed=0)
    assert [r["t"] for r in rows] == [4, 3, 2, 1] and [r["done"] for r in rows] == [0.0, 0.25, 0.5, 0.75]
    assert np.isnan(rows[0]["spearman"])  # every chain starts all masked: one value for all
    rho = [r["spearman"] for r in rows[1:]]
    assert rho == sorted(rho) and rho[0] > 0.2 and rho[-1] > 0.6

    def noise(x, t):  # a value that ignores the state
        return torch.rand(len(x), generator=torch.Generator().manual_seed(int(x.sum()) + t), dtype=torch.float64)

    noisy = value_quality(
        toy.model, lambda x, t: toy.exact_value(0.0)(x, t) if t == 0 else noise(x, t), num_rollouts=4000
    )
    assert all(abs(r["spearman"]) < 0.05 for r in noisy)


def test_value_quality_job_writes_a_table_and_refuses_a_fill_the_reward_cannot_read(tmp_path, load_job, capsys):
    job = load_job("value_quality")
    out = tmp_path / "vq.md"
    args = ["--config", "configs/demo_bitstrings.yaml", "--rollouts", "16", "--out", str(out)]
    assert job.main([*args, "--fills", "argmax", "sample", "--set", "model.options={length: 8, num_steps: 4}"]) == 0
    text = out.read_text()
    assert "Spearman, argmax" in text and "Spearman, sample" in text and text.count("\n| ") == 5
    assert (tmp_path / "vq.png").stat().st_size > 0
    assert job.main([*args, "--fills", "soft"]) == 2
    assert "--fills soft: fill: 'soft' sends per-position probabilities" in capsys.readouterr().err


def test_a_weighted_sum_reads_probabilities_only_when_every_component_does():
    from svdd_ray.config import RewardComponent
    from svdd_ray.rewards import reward_function

    reads = RewardComponent(target="test_value_fills:probability_reward")
    assert reward_function([reads]).reads_probabilities
    assert not reward_function([reads, RewardComponent(target="ones")]).reads_probabilities

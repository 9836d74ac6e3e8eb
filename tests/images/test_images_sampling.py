"""The committed digits prior and rewards through svdd_ray.sample (pm_value, svdd, dps)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from svdd_ray.images.classifier import default_checkpoint_dir

pytestmark = pytest.mark.skipif(
    not all((default_checkpoint_dir() / f).is_file() for f in ("prior.pt", "config.yaml", "classifier.pt")),
    reason="no committed digits checkpoints",
)


@pytest.fixture(scope="module")
def setup():
    from svdd_ray.images import DigitReward, load_prior

    torch.set_num_threads(1)
    return load_prior(num_steps=10), DigitReward(target=3)


def test_svdd_with_pm_value_and_compressibility(setup):
    from svdd_ray import pm_value, sample
    from svdd_ray.images import compressibility

    model, reward = setup
    res = sample(model, pm_value(model, reward), method="svdd", num_samples=4, num_candidates=3, seed=0)
    assert res.x0.shape == (4, 1, 8, 8) and len(res.objects) == 4
    assert all(o.dtype == np.uint8 and o.shape == (8, 8) for o in res.objects)
    assert torch.isfinite(res.rewards).all() and res.value_calls == 4 * 3 * 10
    again = sample(model, pm_value(model, reward), method="svdd", num_samples=4, num_candidates=3, seed=0)
    torch.testing.assert_close(res.x0, again.x0, rtol=0, atol=0)
    comp = sample(model, pm_value(model, compressibility), method="best_of_n", num_samples=2, num_candidates=2, seed=1)
    assert all(math.isfinite(v) and v < 0 for v in comp.rewards.tolist())


def test_dps_with_classifier_guide(setup):
    from svdd_ray import sample

    model, reward = setup
    res = sample(model, reward.guide(model), method="dps", num_samples=3, seed=0, guidance_scale=0.5)
    assert res.x0.shape == (3, 1, 8, 8) and torch.isfinite(res.rewards).all()


def test_svdd_steers_toward_target_digit(setup):
    from svdd_ray import pm_value, sample

    model, reward = setup
    n = 32
    base = sample(model, pm_value(model, reward), method="pretrained", num_samples=n, seed=3)
    steered = sample(model, pm_value(model, reward), method="svdd", num_samples=n, num_candidates=8, seed=3)
    frac = lambda r: float(np.mean(np.exp(reward(r.objects)) > 0.5))  # noqa: E731
    assert frac(steered) > frac(base) + 0.3
    assert float(steered.rewards.mean()) > float(base.rewards.mean()) + 1.0

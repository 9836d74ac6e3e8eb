"""GaussianDiffusion against a 1-D Gaussian mixture whose score and posterior are analytic."""

import math

import pytest
import torch
from toys import MixtureEpsNet

import svdd_ray
from svdd_ray.models import GaussianDiffusion

WEIGHTS, MEANS, STDS = [0.3, 0.7], [-2.0, 2.0], [0.5, 0.5]


def mixture_model(scheduler="ddpm", schedule="linear", num_steps=100, eta=None):
    net = MixtureEpsNet(WEIGHTS, MEANS, STDS, schedule=schedule)
    return GaussianDiffusion(
        net, (1,), num_train_steps=1000, num_steps=num_steps, schedule=schedule, scheduler=scheduler, eta=eta
    ), net


def identity_reward(objects):
    return [float(o[0]) for o in objects]


def ks_distance(samples, net):
    x = torch.sort(samples.reshape(-1).double()).values
    n = len(x)
    cdf = net.cdf(x)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum(upper - cdf, cdf - (upper - 1 / n)).max())


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_predict_x0_is_the_analytic_posterior_mean(schedule):
    model, net = mixture_model(schedule=schedule)
    x = torch.linspace(-4, 4, 41).reshape(-1, 1)
    for t in (1, 10, 50, 100):
        abar = float(model.alpha_bar[t])
        # float32 noise predictions are divided by sqrt(abar): allow for that rounding.
        tol = 1e-3 + 1e-6 / math.sqrt(abar)
        assert torch.allclose(model.predict_x0(x, t).double().reshape(-1), net.posterior_mean(x, abar), atol=tol)
    assert torch.equal(model.predict_x0(x, 0), x)


@pytest.mark.parametrize("scheduler,eta", [("ddpm", None), ("ddim", 0.5)])
def test_pretrained_sampling_matches_the_mixture(scheduler, eta):
    model, net = mixture_model(scheduler=scheduler, eta=eta)
    assert model.scheduler == scheduler
    out = svdd_ray.sample(
        model, svdd_ray.pm_value(model, identity_reward), method="pretrained", num_samples=20_000, seed=0
    )
    # KS critical value at n=20,000, level 1e-3, is 0.0138; the discretisation adds a little.
    assert ks_distance(out.x0, net) < 0.02
    assert abs(float((out.x0 > 0).double().mean()) - 0.7) < 0.02


def test_svdd_moves_mass_towards_the_reward():
    model, _ = mixture_model(num_steps=50)
    value = svdd_ray.pm_value(model, identity_reward)
    pre = svdd_ray.sample(model, value, method="pretrained", num_samples=2000, seed=1)
    guided = svdd_ray.sample(model, value, method="svdd", num_samples=2000, num_candidates=8, seed=1)
    assert float((guided.x0 > 0).double().mean()) > 0.95 > float((pre.x0 > 0).double().mean())
    assert guided.rewards.mean() > pre.rewards.mean() + 1.0


def test_gaussian_dps_follows_the_gradient_of_a_differentiable_value():
    model, _ = mixture_model(num_steps=50)

    def value(x, t):
        return model.predict_x0(x, t).reshape(-1)

    pre = svdd_ray.sample(model, value, method="pretrained", num_samples=2000, seed=2)
    dps = svdd_ray.sample(model, value, method="dps", num_samples=2000, seed=2, guidance_scale=0.05)
    assert float((dps.x0 > 0).double().mean()) > float((pre.x0 > 0).double().mean()) + 0.1


def test_gaussian_dps_rejects_a_decoded_reward():
    model, _ = mixture_model(num_steps=10)
    with pytest.raises(TypeError, match="differentiable"):
        svdd_ray.sample(model, svdd_ray.pm_value(model, identity_reward), method="dps", num_samples=4)


def test_training_loss_is_small_for_the_exact_network():
    model, _ = mixture_model()
    g = torch.Generator().manual_seed(0)
    comp = torch.randint(0, 2, (4096, 1), generator=g)
    x0 = torch.where(comp == 1, 2.0, -2.0) + 0.5 * torch.randn(4096, 1, generator=g)
    exact = float(model.loss(x0, torch.Generator().manual_seed(1)))
    for scale in (0.5, 1.5):  # wrong component means must score worse on the same noise
        wrong, _ = mixture_model()
        wrong.network.mu.mul_(scale)
        assert exact < float(wrong.loss(x0, torch.Generator().manual_seed(1))) - 0.05


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(scheduler="ddim", eta=0.0), "eta"),
        (dict(scheduler="ddpm", eta=0.3), "eta"),
        (dict(scheduler="euler"), "scheduler"),
        (dict(schedule="quadratic"), "schedule"),
        (dict(num_steps=0), "num_steps"),
    ],
)
def test_bad_configuration_is_rejected(kwargs, match):
    net = MixtureEpsNet(WEIGHTS, MEANS, STDS)
    with pytest.raises(ValueError, match=match):
        GaussianDiffusion(net, (1,), **kwargs)


def test_the_old_sampler_keyword_names_its_new_name():
    net = MixtureEpsNet(WEIGHTS, MEANS, STDS)
    with pytest.raises(TypeError, match=r"^GaussianDiffusion: 'sampler' was renamed to 'scheduler'$"):
        GaussianDiffusion(net, (1,), sampler="ddim")
    with pytest.raises(TypeError, match="unexpected keyword argument 'steps'"):
        GaussianDiffusion(net, (1,), steps=3)


def test_final_step_returns_the_denoised_prediction():
    model, _ = mixture_model(num_steps=20)
    x = torch.randn(16, 1, generator=torch.Generator().manual_seed(3))
    a = model.propose(x, 1, torch.Generator().manual_seed(1))
    assert torch.allclose(a, model.predict_x0(x, 1), atol=1e-5)
    assert math.isclose(float(model.alpha_bar[0]), 1.0)

"""Every DiffusionModel in svdd_ray honours the protocol the samplers rely on (one test, three model kinds)."""

from __future__ import annotations

import pytest
import torch
from toys import MixtureEpsNet, tiny_unet

import svdd_ray
from svdd_ray.demo import bitstrings
from svdd_ray.inprocess import sampler_options
from svdd_ray.models import GaussianDiffusion
from svdd_ray.protocol import DiffusionModel
from svdd_ray.samplers import METHODS


def masked() -> DiffusionModel:
    return bitstrings(length=6, num_steps=5)


def gaussian() -> DiffusionModel:
    net = MixtureEpsNet([0.5, 0.5], [-1.0, 1.0], [0.5, 0.5])
    return GaussianDiffusion(net, (1,), num_train_steps=1000, num_steps=5, scheduler="ddim", eta=0.5)


def diffusers_model() -> DiffusionModel:
    diffusers = pytest.importorskip("diffusers")
    from svdd_ray.models.diffusers_adapter import DiffusersModel

    unet = tiny_unet()
    return DiffusersModel(unet, diffusers.DDIMScheduler(num_train_timesteps=1000), num_steps=5, eta=1.0)


MODELS = {"masked": masked, "gaussian": gaussian, "diffusers": diffusers_model}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module", params=list(MODELS))
def model(request) -> DiffusionModel:
    return MODELS[request.param]()


def chain(model: DiffusionModel, n: int, seed: int) -> list[torch.Tensor]:
    g = gen(seed)
    states = [model.sample_prior(n, g)]
    for t in range(model.num_steps, 0, -1):
        states.append(model.propose(states[-1], t, g))
    return states


def test_satisfies_the_protocol(model):
    assert isinstance(model, DiffusionModel) and model.num_steps == 5


def test_every_step_keeps_the_batch_shape_and_x0_hat_matches_it(model):
    states = chain(model, 3, seed=0)
    assert len(states) == model.num_steps + 1
    for t, x in zip(range(model.num_steps, -1, -1), states):
        assert x.shape == states[0].shape and x.shape[0] == 3
        assert model.predict_x0(x, t).shape == x.shape
    assert torch.equal(model.predict_x0(states[-1], 0), states[-1])


def test_proposals_are_random_but_reproducible_under_a_seed(model):
    a, b, c = chain(model, 4, seed=1), chain(model, 4, seed=1), chain(model, 4, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[-1], c[-1])


def test_renoise_goes_back_to_any_step_reproducibly(model):
    x0 = chain(model, 16, seed=0)[-1]
    for t in (1, model.num_steps):
        a, b = model.renoise(x0, t, gen(5)), model.renoise(x0, t, gen(5))
        assert a.shape == x0.shape and torch.equal(a, b)
        assert t == model.num_steps or not torch.equal(a, model.renoise(x0, t, gen(6)))  # masked: all masked at T
        assert model.propose(a, t, gen(0)).shape == x0.shape


def test_decode_gives_one_object_per_row(model):
    assert len(model.decode(chain(model, 3, seed=0)[-1])) == 3


@pytest.mark.parametrize("method", [m for m in METHODS if "guide" not in sampler_options(m)])
def test_every_derivative_free_method_runs_on_it(model, method):
    def reward(x: torch.Tensor, t: int) -> torch.Tensor:  # any value over states will do
        return x.float().flatten(1).mean(1)

    alpha = 0.5 if method in ("smc", "particle_gibbs") else 0.0
    out = svdd_ray.sample(model, reward, method=method, num_samples=4, num_candidates=2, alpha=alpha, seed=0)
    assert len(out.objects) == 4 and out.rewards.shape == (4,) and torch.isfinite(out.rewards).all()

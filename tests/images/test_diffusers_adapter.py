"""DiffusersModel on tiny randomly initialised diffusers models (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from toys import tiny_unet  # noqa: E402

from svdd_ray.models.diffusers_adapter import DiffusersModel, tensor_to_uint8  # noqa: E402
from svdd_ray.protocol import DiffusionModel  # noqa: E402


def tiny_cond_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return diffusers.UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=12,
        attention_head_dim=2,
        norm_num_groups=4,
    ).eval()


def tiny_vae() -> torch.nn.Module:
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        norm_num_groups=4,
        sample_size=16,
    ).eval()


def scheduler(**kw):
    return diffusers.DDIMScheduler(num_train_timesteps=1000, **kw)


@pytest.fixture(scope="module")
def model() -> DiffusersModel:
    return DiffusersModel(tiny_unet(), scheduler(), num_steps=6, eta=1.0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_protocol_conformance_and_shapes(model):
    assert isinstance(model, DiffusionModel)
    assert model.num_steps == 6 and model.shape == (1, 8, 8)
    x = model.sample_prior(3, gen())
    assert x.shape == (3, 1, 8, 8)
    for t in range(model.num_steps, 0, -1):
        assert model.predict_x0(x, t).shape == x.shape
        x = model.propose(x, t, gen(t))
        assert x.shape == (3, 1, 8, 8) and torch.isfinite(x).all()
    assert model.predict_x0(x, 0) is x
    objs = model.decode(x)
    assert len(objs) == 3 and all(o.dtype == np.uint8 and o.shape == (8, 8) for o in objs)


def test_timesteps_descend_and_map_to_scheduler(model):
    steps = [model.timestep(t) for t in range(model.num_steps, 0, -1)]
    assert steps == [int(s) for s in model.scheduler.timesteps]
    assert steps == sorted(steps, reverse=True)
    with pytest.raises(ValueError):
        model.timestep(0)


def test_determinism_under_seed(model):
    def run(seed):
        g = gen(seed)
        x = model.sample_prior(2, g)
        for t in range(model.num_steps, 0, -1):
            x = model.propose(x, t, g)
        return x

    torch.testing.assert_close(run(7), run(7), rtol=0, atol=0)
    assert not torch.allclose(run(7), run(8))


def test_proposals_are_random_with_eta(model):
    x = model.sample_prior(2, gen())
    a, b = model.propose(x, 3, gen(1)), model.propose(x, 3, gen(2))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_predict_x0_matches_scheduler_formula(prediction_type):
    m = DiffusersModel(tiny_unet(), scheduler(prediction_type=prediction_type, clip_sample=False), num_steps=10)
    x = m.sample_prior(4, gen(3))
    t = 6
    ts = m.timestep(t)
    with torch.no_grad():
        out = m.unet(x, torch.full((4,), ts)).sample
    abar = m.scheduler.alphas_cumprod[ts]
    if prediction_type == "epsilon":
        expected = (x - (1 - abar).sqrt() * out) / abar.sqrt()
    else:
        expected = abar.sqrt() * x - (1 - abar).sqrt() * out
    with torch.no_grad():
        torch.testing.assert_close(m.predict_x0(x, t), expected, rtol=1e-5, atol=1e-5)


def test_propose_matches_ddim_update():
    eta = 0.7
    m = DiffusersModel(tiny_unet(), scheduler(clip_sample=False), num_steps=10, eta=eta)
    x = m.sample_prior(3, gen(4))
    t = 4
    ts = m.timestep(t)
    prev = ts - 1000 // 10
    abar, abar_prev = m.scheduler.alphas_cumprod[ts], m.scheduler.alphas_cumprod[prev]
    with torch.no_grad():
        eps = m.unet(x, torch.full((3,), ts)).sample
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        noise = torch.randn(x.shape, generator=gen(5))
        expected = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).sqrt() * eps + sigma * noise
        torch.testing.assert_close(m.propose(x, t, gen(5)), expected, rtol=1e-4, atol=1e-5)


def test_caller_scheduler_untouched():
    s = scheduler()
    s.set_timesteps(25)
    DiffusersModel(tiny_unet(), s, num_steps=10)
    assert len(s.timesteps) == 25


def test_invalid_arguments():
    with pytest.raises(ValueError):
        DiffusersModel(tiny_unet(), scheduler(), eta=0.0)
    with pytest.raises(ValueError):
        DiffusersModel(tiny_unet(), scheduler(), num_steps=0)


def test_conditional_unet_with_cfg_and_vae_decoder():
    cond = torch.randn(1, 5, 12, generator=gen(1))
    neg = torch.zeros(1, 5, 12)
    m = DiffusersModel(
        tiny_cond_unet(),
        scheduler(clip_sample=False),
        num_steps=4,
        eta=0.5,
        encoder_hidden_states=cond,
        negative_encoder_hidden_states=neg,
        guidance_scale=3.0,
        vae=tiny_vae(),
    )
    assert m.shape == (4, 8, 8) and m.vae_scaling_factor == m.vae.config.scaling_factor
    g = gen(2)
    x = m.sample_prior(2, g)
    with torch.no_grad():
        # classifier-free guidance combines the two UNet passes
        ts = m.timestep(4)
        e_pos = m.unet(x, torch.full((2,), ts), encoder_hidden_states=cond.expand(2, -1, -1)).sample
        e_neg = m.unet(x, torch.full((2,), ts), encoder_hidden_states=neg.expand(2, -1, -1)).sample
        torch.testing.assert_close(m.model_output(x, 4), e_neg + 3.0 * (e_pos - e_neg), rtol=1e-4, atol=1e-5)
        for t in range(m.num_steps, 0, -1):
            x = m.propose(x, t, g)
    objs = m.decode(x)
    assert len(objs) == 2 and objs[0].shape == (16, 16, 3) and objs[0].dtype == np.uint8


def test_predict_x0_is_differentiable_for_dps(model):
    x = model.sample_prior(2, gen())
    guide = lambda x, t: -model.predict_x0(x, t).pow(2).flatten(1).sum(1)  # noqa: E731
    y = model.guided_propose(x, 3, gen(1), guide, 0.1)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert not torch.allclose(y, model.propose(x, 3, gen(1)))


def test_tensor_to_uint8_rgb_and_gray():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    (g,) = tensor_to_uint8(x)
    assert g.tolist() == [[0, 128], [255, 255]]
    (rgb,) = tensor_to_uint8(torch.zeros(1, 3, 2, 2))
    assert rgb.shape == (2, 2, 3)

"""The epsilon network and the committed prior checkpoint."""

from __future__ import annotations

import pytest
import torch

from svdd_ray.images.classifier import default_checkpoint_dir
from svdd_ray.images.network import DigitsUNet, count_parameters, sinusoidal_embedding


def test_sinusoidal_embedding():
    e = sinusoidal_embedding(torch.tensor([0.0, 10.0, 999.0]), 32)
    assert e.shape == (3, 32)
    assert torch.allclose(e[0, :16], torch.ones(16)) and torch.allclose(e[0, 16:], torch.zeros(16))
    with pytest.raises(ValueError):
        sinusoidal_embedding(torch.zeros(1), 5)


@pytest.mark.parametrize("res", [8, 16])
def test_unet_shapes_and_time_dependence(res):
    torch.manual_seed(0)
    net = DigitsUNet()
    for p in net.parameters():  # residual branches and the output are zero-initialised
        if p.dim() == 4 and not bool(p.detach().any()):
            torch.nn.init.normal_(p, std=0.05)
    net.eval()
    x = torch.randn(4, 1, res, res)
    out = net(x, torch.full((4,), 10.0))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, torch.full((4,), 900.0)))
    assert net(x, torch.tensor(10.0)).shape == x.shape  # scalar t broadcasts


def test_default_network_is_small():
    assert count_parameters(DigitsUNet()) * 4 < 5e6


def test_committed_prior_checkpoint():
    path = default_checkpoint_dir() / "prior.pt"
    if not path.is_file():
        pytest.skip("no committed prior.pt")
    assert path.stat().st_size < 5e6
    from svdd_ray.images.train import load_prior

    model = load_prior()
    assert model.shape == (1, 8, 8) and model.num_steps == 50
    g = torch.Generator().manual_seed(0)
    x = model.sample_prior(2, g)
    with torch.no_grad():
        x = model.propose(x, model.num_steps, g)
        x0 = model.predict_x0(x, model.num_steps - 1)
    objs = model.decode(x0)
    assert len(objs) == 2 and objs[0].shape == (8, 8) and objs[0].dtype.name == "uint8"

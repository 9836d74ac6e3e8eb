import pytest
import torch

from svdd_ray.dna.value_net import DnaValueNet
from svdd_ray.plugins import build


def test_value_net_reads_masked_tokens_and_unstandardises():
    net = build("value network", "dna", {"width": 16, "dilations": [1, 2]})
    assert isinstance(net, DnaValueNet)
    x = torch.randint(0, 5, (6, 200))
    t = torch.rand(6)
    out = net(x, t)
    assert out.shape == (6,) and torch.isfinite(out).all()
    assert not torch.allclose(out, net(x, 1.0 - t))  # the time matters
    net.set_target_stats(10.0, 2.0)
    assert torch.allclose(net(x, t), 10.0 + 2.0 * out, atol=1e-5)
    loss = net(x, t).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.stem.parameters())


def test_value_net_refuses_one_hot_input():
    with pytest.raises(ValueError, match=r"expected token ids of shape \[n, L\]"):
        DnaValueNet(width=16)(torch.zeros(2, 4, 200), torch.rand(2))

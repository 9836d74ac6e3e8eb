import io

import pytest
import torch

from svdd_ray.chem.network import SequenceTransformer, time_features
from svdd_ray.models import MaskedDiffusion

V, L = 27, 55


def test_shapes_and_mask_input():
    net = SequenceTransformer(V, L, d_model=32, layers=2, heads=4)
    x = torch.randint(0, V + 1, (5, L))
    x[:, :3] = V  # mask id
    out = net(x, torch.rand(5))
    assert out.shape == (5, L, V) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert net(x, torch.tensor(0.5)).shape == (5, L, V)  # scalar time broadcasts
    with pytest.raises(ValueError):
        net(x[:, :10], torch.rand(5))


def test_bidirectional_and_time_dependent():
    torch.manual_seed(0)
    net = SequenceTransformer(V, L, d_model=32, layers=2, heads=4).eval()
    x = torch.full((1, L), V)
    y = x.clone()
    y[0, -1] = 3  # change the last token only
    t = torch.tensor([0.5])
    with torch.no_grad():
        assert not torch.allclose(net(x, t)[0, 0], net(y, t)[0, 0])  # first position sees the last
        assert not torch.allclose(net(x, t), net(x, torch.tensor([0.9])))


def test_default_size_under_10mb():
    net = SequenceTransformer(V, L)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    assert buffer.tell() < 10e6
    assert net.num_parameters() == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError):
        SequenceTransformer(V, L, d_model=30, heads=4)


def test_time_features():
    f = time_features(torch.tensor([0.0, 1.0]), 8)
    assert f.shape == (2, 8) and torch.allclose(f[0], torch.tensor([0.0] * 4 + [1.0] * 4))


def test_trains_inside_masked_diffusion():
    torch.manual_seed(0)
    net = SequenceTransformer(V, L, d_model=32, layers=1, heads=2)
    model = MaskedDiffusion(net, V, L, num_steps=10)
    x0 = torch.randint(0, 3, (16, L))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(30):
        loss = model.loss(x0, generator=g)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    clone = MaskedDiffusion(SequenceTransformer(V, L, d_model=32, layers=1, heads=2), V, L, num_steps=10)
    clone.load_state_dict(state)
    xt = torch.full((2, L), V)
    assert torch.equal(clone.predict_x0(xt, 5), model.predict_x0(xt, 5))


def test_conv_kernel_adds_local_context_and_is_off_by_default():
    torch.manual_seed(0)
    plain = SequenceTransformer(4, 12, d_model=16, layers=1, heads=2)
    assert plain.local is None and not any(k.startswith("local.") for k in plain.state_dict())
    local = SequenceTransformer(4, 12, d_model=16, layers=1, heads=2, conv_kernel=3)
    assert local.local.kernel_size == (3,) and local.config["conv_kernel"] == 3
    x = torch.randint(0, 4, (2, 12))
    assert local(x, torch.rand(2)).shape == (2, 12, 4)
    with pytest.raises(ValueError, match="conv_kernel must be odd"):
        SequenceTransformer(4, 12, d_model=16, layers=1, heads=2, conv_kernel=4)

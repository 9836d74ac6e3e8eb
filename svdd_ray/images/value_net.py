"""A small convolutional value network for SVDD-MC on the 8x8 digits prior.

``DigitsValueNet()(x [n, 1, 8, 8], t_frac [n]) -> [n]`` regresses the reward of the clean
sample that a pretrained rollout through the noisy state ``x`` (at step ``t = t_frac * T``)
ends in. Wrap it in :class:`svdd_ray.values.ValueNetwork` to use it as a value; train it with
``jobs/train_value.py`` (``collect_rollouts`` -> ``train_value_network``).

Rewards live on their own scales (JPEG bytes around -390, log-probabilities in ``[-20, 0]``),
so the network predicts a standardised target: ``out = target_mean + target_std * f(x, t)``.
The two statistics are buffers (saved in the checkpoint); set them from the training rewards
with :meth:`DigitsValueNet.set_target_stats` before training
(:class:`svdd_ray.values.StandardisedOutput`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.values import StandardisedOutput

from .network import sinusoidal_embedding


class _FiLMConv(nn.Module):
    """3x3 conv, GroupNorm, then a per-channel scale and shift from the time embedding, SiLU."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm = nn.GroupNorm(8 if out_ch % 8 == 0 else 1, out_ch)
        self.film = nn.Linear(emb_dim, 2 * out_ch)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        return F.silu(self.norm(self.conv(x)) * (1.0 + scale) + shift)


class DigitsValueNet(StandardisedOutput, nn.Module):
    """Conv value network ``(x [n, 1, H, W], t_frac [n]) -> [n]`` for 8x8 single-channel states.

    Three FiLM-conditioned conv layers (8x8 -> 4x4 after average pooling), a two-layer head that
    also sees the time embedding. About 155k parameters at the default width (~0.6 MB).
    """

    def __init__(self, width: int = 32, emb_dim: int = 64, hidden: int = 64, resolution: int = 8) -> None:
        super().__init__()
        if resolution % 2:
            raise ValueError(f"resolution must be even, got {resolution}")
        self.emb_dim = emb_dim
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.block1 = _FiLMConv(1, width, emb_dim)
        self.block2 = _FiLMConv(width, 2 * width, emb_dim)
        self.block3 = _FiLMConv(2 * width, 2 * width, emb_dim)
        self.head = nn.Sequential(
            nn.Linear(2 * width * (resolution // 2) ** 2 + emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )
        self._init_target_stats()

    def forward(self, x: Tensor, t_frac: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected x of shape [n, 1, H, W], got {tuple(x.shape)}")
        # t_frac in [0, 1]; scale up so the sinusoidal features resolve individual steps.
        emb = self.time(sinusoidal_embedding(t_frac.float() * 1000.0, self.emb_dim).to(x.dtype))
        h = self.block1(x, emb)
        h = F.avg_pool2d(self.block2(h, emb), 2)
        h = self.block3(h, emb)
        out = self.head(torch.cat([h.flatten(1), emb], dim=1)).squeeze(-1)
        return self.unstandardise(out)

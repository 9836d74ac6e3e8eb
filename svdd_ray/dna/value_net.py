"""A convolutional value network for SVDD-MC on the DNA prior.

``DnaValueNet()(x [n, L] token ids 0..3 or the mask id 4, t_frac [n]) -> [n]`` regresses the reward
of the sequence that a pretrained rollout through the partly masked state ``x`` ends in. Five input
channels (A, C, G, T, mask), dilated residual convolutions whose channels are scaled and shifted by
the diffusion time (FiLM), global average and max pooling, a small head. Train it with
``jobs/train_value.py --config configs/dna_hepg2.yaml --network dna``; it predicts a standardised
target (:class:`svdd_ray.values.StandardisedOutput`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.models.transformer import time_features
from svdd_ray.values import StandardisedOutput

__all__ = ["DnaValueNet"]


class _Block(nn.Module):
    """Residual dilated conv, GroupNorm, time FiLM, SiLU."""

    def __init__(self, width: int, dilation: int, emb_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, width, 5, padding=2 * dilation, dilation=dilation)
        self.norm = nn.GroupNorm(8, width)
        self.film = nn.Linear(emb_dim, 2 * width)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        return h + F.silu(self.norm(self.conv(h)) * (1.0 + scale) + shift)


class DnaValueNet(StandardisedOutput, nn.Module):
    """Value network ``(x [n, L] tokens with masks, t_frac [n]) -> [n]``; about 0.2 M parameters at width 64."""

    def __init__(self, width: int = 64, dilations: tuple[int, ...] = (1, 2, 4, 8), emb_dim: int = 64) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        self.stem = nn.Conv1d(5, width, 9, padding=4)
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.blocks = nn.ModuleList(_Block(width, d, emb_dim) for d in dilations)
        self.head = nn.Sequential(nn.Linear(2 * width + emb_dim, width), nn.SiLU(), nn.Linear(width, 1))
        self._init_target_stats()

    def forward(self, x: Tensor, t_frac: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"expected token ids of shape [n, L], got {tuple(x.shape)}")
        emb = self.time(time_features(t_frac, self.emb_dim))
        h = self.stem(F.one_hot(x.long().clamp(0, 4), 5).transpose(1, 2).float())
        for block in self.blocks:
            h = block(h, emb)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2), emb], dim=1)
        return self.unstandardise(self.head(pooled).squeeze(-1))

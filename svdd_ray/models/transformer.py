"""Bidirectional transformer that predicts clean tokens for masked diffusion.

``SequenceTransformer(vocab_size, seq_len)(x, t) -> logits [n, L, vocab_size]``
where ``x`` holds ids ``0..vocab_size`` (``vocab_size`` is the mask id) and
``t`` in [0, 1] is the diffusion time (the masking rate). The time enters
through a sinusoidal feature map and an MLP whose output is added to every
position's embedding and, via adaptive scale/shift, to the final norm.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SequenceTransformer", "time_features"]


def time_features(t: Tensor, dim: int, scale: float = 1000.0) -> Tensor:
    """``[n]`` times in [0, 1] -> ``[n, dim]`` sin/cos features over geometric frequencies."""
    if dim % 2:
        raise ValueError("time feature dimension must be even")
    half = dim // 2
    exponents = torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1)
    freqs = torch.exp(-math.log(10_000.0) * exponents)
    angles = (t.float() * scale)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class SequenceTransformer(nn.Module):
    """Encoder-only transformer: learned token + position embeddings, time conditioning.

    Args:
        vocab_size: number of real tokens ``V``; inputs may also hold the mask id ``V``.
        seq_len: sequence length ``L`` (inputs must have exactly this length).
        d_model, layers, heads: width, depth and attention heads.
        ff_mult: feed-forward width as a multiple of ``d_model``.
        dropout: dropout in the attention/feed-forward blocks.
        conv_kernel: width of a convolution added over the embeddings before the first block
            (0: none); it gives every position its neighbours from the start.

    The default (128 wide, 4 layers) has ~0.85 M parameters (~3.4 MB float32).
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        d_model: int = 128,
        layers: int = 4,
        heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        conv_kernel: int = 0,
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.vocab_size = int(vocab_size)
        self.seq_len = int(seq_len)
        self.d_model = int(d_model)
        self.config = dict(
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
            d_model=self.d_model,
            layers=int(layers),
            heads=int(heads),
            ff_mult=int(ff_mult),
            dropout=float(dropout),
            conv_kernel=int(conv_kernel),
        )
        self.token_embedding = nn.Embedding(vocab_size + 1, d_model)  # + mask token
        self.position_embedding = nn.Parameter(torch.zeros(seq_len, d_model))
        if conv_kernel % 2 == 0 and conv_kernel:
            raise ValueError(f"conv_kernel must be odd (or 0 for none), got {conv_kernel}")
        # An optional convolution over the embeddings: local context from the first step (DNA k-mers).
        self.local = nn.Conv1d(d_model, d_model, conv_kernel, padding=conv_kernel // 2) if conv_kernel else None
        self.time_mlp = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.SiLU(), nn.Linear(2 * d_model, d_model))
        block = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=ff_mult * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d_model, elementwise_affine=False)
        self.final_modulation = nn.Linear(d_model, 2 * d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.02)
        nn.init.zeros_(self.final_modulation.weight)
        nn.init.zeros_(self.final_modulation.bias)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.head(self.features(x, t))

    def features(self, x: Tensor, t: Tensor) -> Tensor:
        """The time-modulated last hidden states ``[n, L, d_model]`` (what ``head`` reads)."""
        if x.dim() != 2 or x.shape[1] != self.seq_len:
            raise ValueError(f"expected x of shape [n, {self.seq_len}], got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        cond = self.time_mlp(time_features(t, self.d_model))  # [n, d]
        h = self.token_embedding(x) + self.position_embedding[None] + cond[:, None, :]
        if self.local is not None:
            h = h + self.local(h.transpose(1, 2)).transpose(1, 2)
        h = self.encoder(h)
        scale, shift = self.final_modulation(cond).chunk(2, dim=-1)
        return self.final_norm(h) * (1.0 + scale[:, None, :]) + shift[:, None, :]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

"""A tiny self-contained problem for smoke runs, tests and engine benchmarks.

``bitstrings`` is a masked diffusion over binary strings with a small, randomly initialised
(seeded) network: it needs no data or checkpoint, so the engine can be exercised anywhere.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from svdd_ray.domains import TextDomain
from svdd_ray.models import MaskedDiffusion


class TinyTokenNet(nn.Module):
    """Embeds tokens and time, mixes positions with one MLP, returns clean-token logits."""

    def __init__(self, vocab_size: int, seq_len: int, hidden: int = 64) -> None:
        super().__init__()
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.embed = nn.Embedding(vocab_size + 1, 8)
        self.mix = nn.Sequential(nn.Linear(seq_len * 8 + 1, hidden), nn.GELU(), nn.Linear(hidden, seq_len * vocab_size))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h = torch.cat([self.embed(x).flatten(1), t[:, None].to(self.embed.weight.dtype)], dim=1)
        return self.mix(h).view(-1, self.seq_len, self.vocab_size)


def bitstrings(length: int = 16, num_steps: int = 16, hidden: int = 64, seed: int = 0) -> MaskedDiffusion:
    """A masked diffusion over ``{0,1}^length``; objects are strings such as ``"0110"``."""
    torch.manual_seed(seed)
    net = TinyTokenNet(2, length, hidden)
    return MaskedDiffusion(net, 2, length, num_steps, decoder=decode_bits)


def decode_bits(x0: Tensor) -> list[str]:
    return ["".join("1" if v == 1 else "0" for v in row) for row in x0.tolist()]


def ones(objects: list[str]) -> list[float]:
    """Fraction of ones in each bit string."""
    return [s.count("1") / len(s) if s else float("nan") for s in objects]


class SleepyOnes:
    """``ones`` with a fixed latency per object (sleeps, so it costs no CPU): a stand-in for docking."""

    def __init__(self, latency_s: float = 0.01) -> None:
        self.latency_s = latency_s

    def __call__(self, objects: list[str]) -> list[float]:
        time.sleep(self.latency_s * len(objects))
        return ones(objects)


class BitValueNet(nn.Module):
    """A small value network over bit-string states, ``net(x, t_frac) -> [n]`` (for SVDD-MC demos)."""

    def __init__(self, length: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(length * 3 + 1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor, t_frac: Tensor) -> Tensor:
        onehot = nn.functional.one_hot(x, 3).float().flatten(1)
        return self.body(torch.cat([onehot, t_frac[:, None].float()], dim=1)).squeeze(-1)


def ones_guide(model: MaskedDiffusion, scale: float = 1.0):
    """A differentiable guide for ``dps`` on bit strings: the expected count of ones, from one-hot states."""

    def guide(onehot: Tensor, t: int) -> Tensor:
        return scale * onehot[..., 1].sum(dim=-1)

    return guide


class BitstringDomain(TextDomain):
    """Bit strings such as ``"0110"``: shown as text; no grid and no metrics."""

    name = "bitstrings"

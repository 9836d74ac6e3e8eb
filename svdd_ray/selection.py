"""Choosing among scored candidates: argmax, softmax draws, top-k and particle resampling.

Values are float tensors; a non-finite value marks an invalid state, which ranks below
every valid one and gets zero weight (unless all are invalid: then all weigh the same).
"""

from __future__ import annotations

import torch
from torch import Tensor


def rankable(values: Tensor) -> Tensor:
    """Values with invalid entries replaced by ``-inf``."""
    return torch.where(torch.isfinite(values), values, torch.full_like(values, -torch.inf))


def normalized_weights(log_weights: Tensor) -> Tensor:
    """Softmax over the last dim; rows with no finite entry become uniform."""
    log_weights = rankable(log_weights)
    dead = torch.isinf(log_weights).all(dim=-1, keepdim=True)
    log_weights = torch.where(dead, torch.zeros_like(log_weights), log_weights)
    return torch.softmax(log_weights, dim=-1)


def select_candidates(values: Tensor, alpha: float, generator: torch.Generator) -> Tensor:
    """For ``values [n, m]``, pick one column per row: argmax if ``alpha == 0``, else softmax(v/alpha)."""
    if alpha == 0:
        return rankable(values).argmax(dim=1)
    probs = normalized_weights(values / alpha)
    return torch.multinomial(probs.to(generator.device), 1, generator=generator).view(-1).to(values.device)


def top_k(values: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` best values (invalid last), best first."""
    return torch.topk(rankable(values), k, sorted=True).indices


def effective_sample_size(log_weights: Tensor) -> Tensor:
    """``1 / sum(w^2)`` of the weights normalised over the last dim: a float for ``[n]``, ``[g]`` for ``[g, n]``."""
    w = normalized_weights(log_weights)
    return 1.0 / (w * w).sum(dim=-1)


def resample(log_weights: Tensor, k: int, method: str, generator: torch.Generator) -> Tensor:
    """Draw ``k`` particle indices in proportion to the weights (``multinomial`` or ``systematic``).

    ``log_weights [n]`` gives ``[k]`` indices; ``[g, n]`` (g independent populations) gives ``[g, k]``
    indices into each row.
    """
    w = normalized_weights(log_weights).to(generator.device, torch.float64)
    rows = w if w.dim() == 2 else w.unsqueeze(0)
    if method == "multinomial":
        idx = torch.multinomial(rows, k, replacement=True, generator=generator)
    elif method == "systematic":
        u = torch.rand(len(rows), 1, generator=generator, device=w.device, dtype=w.dtype)
        u = (u + torch.arange(k, device=w.device)) / k
        idx = torch.searchsorted(torch.cumsum(rows, 1), u).clamp_max(rows.shape[1] - 1)
    else:
        raise ValueError(f"resampling must be 'multinomial' or 'systematic', got {method!r}")
    return idx.view(w.shape[:-1] + (k,)).to(log_weights.device)

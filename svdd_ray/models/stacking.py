"""The shared part of the models' stacked entry points (``propose_stacked`` / ``predict_x0_stacked``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def network_pass(
    network: nn.Module, xs: list[Tensor], ts: list[int], time: Callable[[Tensor, int], Tensor]
) -> list[Tensor | None]:
    """``network(x, time(x, t))`` for every ``(x, t)`` with ``t > 0``, run once over all their rows and split
    back per x; ``None`` where ``t = 0`` (clean states need no call)."""
    live = [i for i, t in enumerate(ts) if t > 0]
    out: list[Tensor | None] = [None] * len(xs)
    if live:
        rows = network(torch.cat([xs[i] for i in live]), torch.cat([time(xs[i], ts[i]) for i in live]))
        for i, part in zip(live, rows.split([len(xs[i]) for i in live])):
            out[i] = part
    return out

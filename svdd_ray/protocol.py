"""The contracts every model, value and reward in svdd_ray satisfies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

#: A soft value ``value(x, t) -> Tensor[n]``: higher is better; at ``t = 0`` it is the reward.
Value = Callable[[Tensor, int], Tensor]
#: A reward maps decoded objects to one float each (NaN marks an invalid object).
Reward = Callable[[list], Sequence[float]]


@runtime_checkable
class DiffusionModel(Protocol):
    """A pretrained diffusion model seen as a reverse-time Markov chain of ``num_steps`` steps."""

    num_steps: int

    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        """Return ``n`` fully noised states (step ``num_steps``)."""
        ...

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """Draw one ``x_{t-1} ~ p_pre(. | x_t)`` per row of ``x``; ``t`` runs from ``num_steps`` to 1."""
        ...

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        """The model's denoised estimate of ``x0`` from states at step ``t`` (``t = 0``: ``x`` itself)."""
        ...

    def decode(self, x0: Tensor) -> list:
        """The objects that rewards score (SMILES strings, uint8 images, sequences)."""
        ...

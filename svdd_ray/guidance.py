"""Gradients of values, for gradient-guided sampling (DPS)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def value_gradient(value: Callable[[Tensor, int], Tensor], x: Tensor, t: int) -> Tensor:
    """Return ``d sum(value(x, t)) / dx``; raise ``TypeError`` if the value is not differentiable."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = value(x, t)
        if not isinstance(v, Tensor) or not v.requires_grad:
            raise TypeError(
                "dps needs a differentiable value: value(x, t) must return a tensor built from x "
                "with torch operations (decoded rewards such as pm_value have no gradient)"
            )
        (grad,) = torch.autograd.grad(v.sum(), x)
    return grad

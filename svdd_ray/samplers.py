"""The sampling algorithms, written as coroutines that ask for values.

Each sampler is a generator function. It yields ``ValueRequest(x, t)`` whenever it needs the
values of states ``x`` at step ``t``, receives a float tensor ``[len(x)]`` back (non-finite =
invalid), and returns ``(x0, rewards)`` for its final samples. Who computes the values — a
local function, or reward actors on a cluster — is the driver's business, not the sampler's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from svdd_ray.protocol import DiffusionModel
from svdd_ray.selection import effective_sample_size, resample, select_candidates, top_k


class ValueRequest(NamedTuple):
    """Score the states ``x`` at step ``t``."""

    x: Tensor
    t: int


Sampler = Generator[ValueRequest, Tensor, tuple[Tensor, Tensor]]


def rollout(model: DiffusionModel, n: int, generator: torch.Generator) -> Iterator[tuple[int, Tensor]]:
    """Ancestral sampling from the pretrained model: yields ``(t, x_t)`` for t = T .. 0."""
    x = model.sample_prior(n, generator)
    yield model.num_steps, x
    for t in range(model.num_steps, 0, -1):
        x = model.propose(x, t, generator)
        yield t - 1, x


def final_states(model: DiffusionModel, n: int, generator: torch.Generator) -> Tensor:
    """The clean samples ``x_0`` of ``n`` pretrained rollouts."""
    return deque(rollout(model, n, generator), maxlen=1)[0][1]


def pretrained(model: DiffusionModel, *, num_samples: int, generator: torch.Generator) -> Sampler:
    """Plain ancestral sampling; rewards of the samples are asked for once at the end."""
    x = final_states(model, num_samples, generator)
    rewards = yield ValueRequest(x, 0)
    return x, rewards


def best_of_n(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    generator: torch.Generator,
    keep: str = "per_sample",
) -> Sampler:
    """Draw ``num_candidates`` pretrained samples per output and keep the best by reward.

    ``keep="per_sample"``: best of each group of ``num_candidates``; ``keep="top"``: the
    global top ``num_samples`` of all ``num_samples * num_candidates`` (the paper's variant).
    """
    if keep not in ("per_sample", "top"):
        raise ValueError(f"keep must be 'per_sample' or 'top', got {keep!r}")
    x = final_states(model, num_samples * num_candidates, generator)
    rewards = yield ValueRequest(x, 0)
    if keep == "top":
        idx = top_k(rewards, num_samples)
    else:
        best = select_candidates(rewards.view(num_samples, num_candidates), 0.0, generator)
        idx = torch.arange(num_samples, device=rewards.device) * num_candidates + best
    return x[idx.to(x.device)], rewards[idx]


def svdd(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
) -> Sampler:
    """SVDD: per step, ``num_candidates`` proposals per chain, keep one by soft value."""
    x = model.sample_prior(num_samples, generator)
    rewards = None
    for t in range(model.num_steps, 0, -1):
        candidates = model.propose(x.repeat_interleave(num_candidates, dim=0), t, generator)
        values = (yield ValueRequest(candidates, t - 1)).view(num_samples, num_candidates)
        pick = select_candidates(values, alpha, generator)
        rows = torch.arange(num_samples, device=values.device)
        x = candidates[(rows * num_candidates + pick).to(candidates.device)]
        rewards = values[rows, pick]
    return x, rewards


def beam(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    generator: torch.Generator,
) -> Sampler:
    """Beam search: keep the best ``num_samples`` of all ``num_samples * num_candidates`` proposals."""
    x = model.sample_prior(num_samples, generator)
    rewards = None
    for t in range(model.num_steps, 0, -1):
        candidates = model.propose(x.repeat_interleave(num_candidates, dim=0), t, generator)
        values = yield ValueRequest(candidates, t - 1)
        idx = top_k(values, num_samples)
        x, rewards = candidates[idx.to(candidates.device)], values[idx]
    return x, rewards


def smc(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    ess_threshold: float = 1.0,
    resampling: str = "systematic",
) -> Sampler:
    """Sequential Monte Carlo / FK steering with twisting potentials ``exp(v / alpha)``.

    ``num_samples * num_candidates`` particles move by the pretrained proposal; weights
    ``exp((v_{t-1}(x_{t-1}) - v_t(x_t)) / alpha)`` accumulate between resamplings, which
    happen when ESS < ``ess_threshold`` * particles (1.0: every step). The outputs are
    ``num_samples`` draws from the final weighted particles.
    """
    if alpha <= 0:
        raise ValueError("smc needs alpha > 0 (weights are exp(value / alpha))")
    if not 0.0 <= ess_threshold <= 1.0:
        raise ValueError(f"ess_threshold must be in [0, 1], got {ess_threshold}")
    if resampling not in ("multinomial", "systematic"):
        raise ValueError(f"resampling must be 'multinomial' or 'systematic', got {resampling!r}")
    particles = num_samples * num_candidates
    x = model.sample_prior(particles, generator)
    values = yield ValueRequest(x, model.num_steps)
    log_w = torch.zeros_like(values)
    for t in range(model.num_steps, 0, -1):
        x = model.propose(x, t, generator)
        new_values = yield ValueRequest(x, t - 1)
        previous = torch.where(torch.isfinite(values), values, torch.zeros_like(values))
        log_w = torch.where(
            torch.isfinite(new_values), log_w + (new_values - previous) / alpha, torch.full_like(log_w, -torch.inf)
        )
        values = new_values
        if t > 1 and (ess_threshold >= 1.0 or effective_sample_size(log_w) < ess_threshold * particles):
            idx = resample(log_w, particles, resampling, generator)
            x, values, log_w = x[idx.to(x.device)], values[idx], torch.zeros_like(log_w)
    idx = resample(log_w, num_samples, resampling, generator)
    return x[idx.to(x.device)], values[idx]


def dps(
    model: DiffusionModel,
    *,
    num_samples: int,
    generator: torch.Generator,
    guide: Callable[[Tensor, int], Tensor],
    guidance_scale: float = 1.0,
) -> Sampler:
    """Gradient guidance: each proposal is steered by the gradient of a differentiable value.

    The model supplies ``guided_propose`` (Gaussian: DPS mean shift; masked: transition tilt).
    """
    if not hasattr(model, "guided_propose"):
        raise TypeError(f"dps needs a model with guided_propose(); {type(model).__name__} has none")
    x = model.sample_prior(num_samples, generator)
    for t in range(model.num_steps, 0, -1):
        x = model.guided_propose(x, t, generator, guide, guidance_scale).detach()
    rewards = yield ValueRequest(x, 0)
    return x, rewards


METHODS: dict[str, Callable[..., Sampler]] = {
    "pretrained": pretrained,
    "best_of_n": best_of_n,
    "svdd": svdd,
    "smc": smc,
    "beam": beam,
    "dps": dps,
}

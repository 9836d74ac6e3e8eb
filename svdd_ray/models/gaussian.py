"""Gaussian diffusion over an epsilon-prediction network: DDPM and DDIM proposals."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.guidance import value_gradient
from svdd_ray.models.stacking import network_pass


def noise_schedule(kind: str, num_train_steps: int) -> Tensor:
    """Cumulative signal levels ``alpha_bar`` for train timesteps ``0..num_train_steps-1`` (float64)."""
    if kind == "linear":
        scale = 1000.0 / num_train_steps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, num_train_steps, dtype=torch.float64)
        return torch.cumprod(1.0 - betas, dim=0)
    if kind == "cosine":
        s = 0.008
        steps = torch.arange(num_train_steps + 1, dtype=torch.float64) / num_train_steps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1.0 - f[1:] / f[:-1]).clamp(max=0.999)
        return torch.cumprod(1.0 - betas, dim=0)
    raise ValueError(f"schedule must be 'linear' or 'cosine', got {kind!r}")


class GaussianDiffusion(nn.Module):
    """Wrap an epsilon-prediction network ``net(x, timestep) -> eps`` as a diffusion model.

    ``timestep`` is the training timestep (``0..num_train_steps-1``) as a float per row.
    Sampling runs ``num_steps`` evenly spaced timesteps. The ``scheduler`` (diffusers' word for
    the sampling kernel) is ``"ddpm"``, ancestral sampling with the posterior variance, or
    ``"ddim"`` with ``eta`` in (0, 1] (eta > 0 keeps proposals random, which value-guided
    decoding needs).
    """

    def __init__(
        self,
        network: nn.Module,
        shape: tuple[int, ...],
        num_train_steps: int = 1000,
        num_steps: int = 50,
        schedule: str = "linear",
        scheduler: str = "ddpm",
        eta: float | None = None,
        clip_x0: float | None = None,
        decoder: Callable[[Tensor], list] | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        if "sampler" in unknown:
            raise TypeError("GaussianDiffusion: 'sampler' was renamed to 'scheduler'")
        if unknown:
            raise TypeError(f"GaussianDiffusion: unexpected keyword argument {next(iter(unknown))!r}")
        if not 1 <= num_steps <= num_train_steps:
            raise ValueError(f"num_steps must be in [1, num_train_steps={num_train_steps}], got {num_steps}")
        if scheduler == "ddpm":
            if eta not in (None, 1.0):
                raise ValueError("eta applies to scheduler='ddim' only (ddpm is eta = 1)")
            eta = 1.0
        elif scheduler == "ddim":
            eta = 0.5 if eta is None else float(eta)
            if not 0.0 < eta <= 1.0:
                raise ValueError(f"ddim needs eta in (0, 1] so proposals stay random, got {eta}")
        else:
            raise ValueError(f"scheduler must be 'ddpm' or 'ddim', got {scheduler!r}")
        self.network = network
        self.shape = tuple(shape)
        self.num_train_steps = num_train_steps
        self.num_steps = num_steps
        self.scheduler = scheduler
        self.eta = eta
        self.clip_x0 = clip_x0
        self.decoder = decoder
        abar = noise_schedule(schedule, num_train_steps)
        timesteps = torch.linspace(0, num_train_steps - 1, num_steps, dtype=torch.float64).round().long()
        self.register_buffer("train_alpha_bar", abar.float(), persistent=False)
        self.register_buffer("timesteps", timesteps, persistent=False)
        # alpha_bar per sampling step k = 0..num_steps (step 0 is clean data).
        self.register_buffer("alpha_bar", torch.cat([torch.ones(1), abar[timesteps].float()]), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.alpha_bar.device

    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn((n, *self.shape), generator=generator, device=self.device)

    def _timestep(self, x: Tensor, t: int) -> Tensor:
        return self.timesteps[t - 1].float().expand(x.shape[0])

    def _x0_and_eps(self, x: Tensor, t: int, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The ``x0`` estimate and the noise from the network's ``eps`` (computed here if not given)."""
        abar = self.alpha_bar[t]
        eps = self.network(x, self._timestep(x, t)) if eps is None else eps
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
        return x0, eps

    def renoise(self, x0: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """``x_t ~ q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I)`` (the forward process)."""
        abar = self.alpha_bar[t]
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        """Tweedie's estimate ``E[x0 | x_t]`` from the predicted noise (``t = 0``: ``x``)."""
        return x if t == 0 else self._x0_and_eps(x, t)[0]

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        return self._step(x, t, generator, *self._x0_and_eps(x, t))

    def _step(self, x: Tensor, t: int, generator: torch.Generator, x0: Tensor, eps: Tensor) -> Tensor:
        abar, abar_prev = self.alpha_bar[t], self.alpha_bar[t - 1]
        sigma = self.eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        direction = (1 - abar_prev - sigma**2).clamp_min(0).sqrt() * eps
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return abar_prev.sqrt() * x0 + direction + sigma * noise

    def propose_stacked(self, xs: list[Tensor], ts: list[int], generators: list[torch.Generator]) -> list[Tensor]:
        """``[propose(x, t, g) for ...]`` with one network pass for all rows (see :mod:`svdd_ray.protocol`)."""
        eps = network_pass(self.network, xs, ts, self._timestep)
        return [self._step(x, t, g, *self._x0_and_eps(x, t, e)) for x, t, g, e in zip(xs, ts, generators, eps)]

    def predict_x0_stacked(self, xs: list[Tensor], ts: list[int]) -> list[Tensor]:
        """``[predict_x0(x, t) for ...]`` with one network pass for all rows."""
        eps = network_pass(self.network, xs, ts, self._timestep)
        return [x if e is None else self._x0_and_eps(x, t, e)[0] for x, t, e in zip(xs, ts, eps)]

    def guided_propose(self, x: Tensor, t: int, generator: torch.Generator, guide: Callable, scale: float) -> Tensor:
        """DPS (Chung et al.): shift the proposal by ``scale * d guide(x_t, t) / d x_t``."""
        return self.propose(x, t, generator) + scale * value_gradient(guide, x, t)

    def decode(self, x0: Tensor) -> list:
        if self.decoder is not None:
            return self.decoder(x0)
        return list(x0.detach().cpu().numpy())

    def loss(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The simple epsilon-matching loss of DDPM."""
        n = x0.shape[0]
        t = torch.randint(0, self.num_train_steps, (n,), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        abar = self.train_alpha_bar[t].view(n, *([1] * (x0.dim() - 1)))
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        return F.mse_loss(self.network(xt, t.float()), noise)

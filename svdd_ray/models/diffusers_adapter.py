"""Adapter: a ``diffusers`` UNet + ``DDIMScheduler`` (+ optional VAE) as a svdd_ray ``DiffusionModel``.

``diffusers`` is an optional dependency (``pip install 'svdd-ray[images]'``); it is imported only
when a :class:`DiffusersModel` is built, so importing this module never needs it.

Step convention: protocol step ``t`` (``num_steps .. 1``) is the scheduler's timestep
``scheduler.timesteps[num_steps - t]``; a proposal from ``t`` is exactly one
``scheduler.step(..., eta=eta, generator=generator)`` (eta > 0 keeps proposals random, which
value-guided decoding needs). ``predict_x0(x, t)`` is the scheduler's ``pred_original_sample``
for that step (same prediction type, clipping / thresholding as its config).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from svdd_ray.guidance import value_gradient

__all__ = ["DiffusersModel", "require_diffusers", "tensor_to_uint8"]


def require_diffusers():
    """Import and return ``diffusers``, with an actionable message if it is not installed."""
    try:
        import diffusers
    except ImportError as exc:
        raise ImportError(
            "svdd_ray.models.DiffusersModel needs the optional 'diffusers' package: "
            "pip install 'svdd-ray[images]' (or pip install diffusers)"
        ) from exc
    return diffusers


def tensor_to_uint8(x: Tensor) -> list[np.ndarray]:
    """``[n, C, H, W]`` in ``[-1, 1]`` -> ``n`` uint8 arrays: ``[H, W]`` if ``C == 1`` else ``[H, W, C]``."""
    x = torch.nan_to_num(x.detach().to("cpu", torch.float32), nan=-1.0).clamp(-1.0, 1.0)
    arr = torch.round((x + 1.0) * 127.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [a[..., 0].copy() if a.shape[-1] == 1 else a.copy() for a in arr]


class DiffusersModel(nn.Module):
    """Wrap a pretrained ``UNet2DModel`` / ``UNet2DConditionModel`` and a ``DDIMScheduler``.

    Args:
        unet: a ``diffusers`` ``UNet2DModel`` or ``UNet2DConditionModel`` (any module whose
            ``forward(sample, timestep, ...)`` returns an object with ``.sample`` or a tuple).
        scheduler: a ``DDIMScheduler`` (copied; the caller's instance is left untouched). ``None``
            builds a default ``DDIMScheduler()``. Other schedulers are converted with
            ``DDIMScheduler.from_config``.
        num_steps: number of sampling steps (``scheduler.set_timesteps(num_steps)``).
        eta: DDIM noise scale in ``(0, 1]`` (1 = DDPM-like ancestral noise).
        encoder_hidden_states: precomputed conditioning (e.g. a prompt's text embeddings)
            ``[1 or n, L, D]`` for a ``UNet2DConditionModel``; a leading 1 is broadcast.
        negative_encoder_hidden_states, guidance_scale: optional classifier-free guidance;
            ``eps = eps_neg + guidance_scale * (eps_cond - eps_neg)``.
        vae: optional ``AutoencoderKL``; ``decode`` then maps latents through ``vae.decode``.
        vae_scaling_factor: latents are divided by it before decoding (default: the VAE config's).
        shape: per-sample state shape ``(C, H, W)`` (default: from the UNet config).
        decoder: custom ``decode`` (``Tensor -> list``) replacing the VAE / uint8 default.
        decode_batch_size: rows per VAE decode call.
    """

    def __init__(
        self,
        unet: nn.Module,
        scheduler: Any = None,
        *,
        num_steps: int = 50,
        eta: float = 1.0,
        encoder_hidden_states: Tensor | None = None,
        negative_encoder_hidden_states: Tensor | None = None,
        guidance_scale: float = 1.0,
        vae: nn.Module | None = None,
        vae_scaling_factor: float | None = None,
        shape: tuple[int, ...] | None = None,
        decoder: Callable[[Tensor], list] | None = None,
        decode_batch_size: int = 8,
    ) -> None:
        super().__init__()
        diffusers = require_diffusers()
        if not 0.0 < float(eta) <= 1.0:
            raise ValueError(f"eta must be in (0, 1] so proposals stay random, got {eta}")
        if scheduler is None:
            scheduler = diffusers.DDIMScheduler()
        scheduler = diffusers.DDIMScheduler.from_config(scheduler.config)
        num_train = int(scheduler.config.num_train_timesteps)
        if isinstance(num_steps, bool) or not 1 <= int(num_steps) <= num_train:
            raise ValueError(f"num_steps must be in [1, {num_train}], got {num_steps}")
        if negative_encoder_hidden_states is not None and encoder_hidden_states is None:
            raise ValueError("negative_encoder_hidden_states needs encoder_hidden_states")
        scheduler.set_timesteps(int(num_steps))
        self.scheduler = scheduler
        self.unet = unet
        self.vae = vae
        self.num_steps = int(num_steps)
        self.num_train_steps = num_train
        self.eta = float(eta)
        self.guidance_scale = float(guidance_scale)
        self.decoder = decoder
        self.decode_batch_size = int(decode_batch_size)
        if vae is not None and vae_scaling_factor is None:
            vae_scaling_factor = float(getattr(vae.config, "scaling_factor", 1.0))
        self.vae_scaling_factor = vae_scaling_factor
        if shape is None:
            cfg = unet.config
            size = cfg.sample_size
            h, w = (size, size) if isinstance(size, int) else tuple(size)
            shape = (int(cfg.in_channels), int(h), int(w))
        self.shape = tuple(int(s) for s in shape)
        self.register_buffer("_cond", encoder_hidden_states, persistent=False)
        self.register_buffer("_neg_cond", negative_encoder_hidden_states, persistent=False)
        for p in self.unet.parameters():
            p.requires_grad_(False)
        if vae is not None:
            for p in vae.parameters():
                p.requires_grad_(False)
        self.eval()

    # ---- helpers -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def timestep(self, t: int) -> int:
        """The scheduler's training timestep for protocol step ``t`` (``1 .. num_steps``)."""
        if not 1 <= int(t) <= self.num_steps:
            raise ValueError(f"step t must be in [1, {self.num_steps}], got {t}")
        return int(self.scheduler.timesteps[self.num_steps - int(t)])

    @staticmethod
    def _expand(cond: Tensor, n: int) -> Tensor:
        if cond.shape[0] == n:
            return cond
        if cond.shape[0] == 1:
            return cond.expand(n, *cond.shape[1:])
        raise ValueError(f"conditioning has batch {cond.shape[0]}, expected 1 or {n}")

    def _unet(self, x: Tensor, timestep: int, cond: Tensor | None) -> Tensor:
        ts = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        kwargs = {} if cond is None else {"encoder_hidden_states": self._expand(cond, x.shape[0]).to(x.dtype)}
        out = self.unet(x, ts, **kwargs)
        return out.sample if hasattr(out, "sample") else out[0]

    def model_output(self, x: Tensor, t: int) -> Tensor:
        """The UNet's raw prediction (with classifier-free guidance if configured) at step ``t``."""
        timestep = self.timestep(t)
        xin = self.scheduler.scale_model_input(x, timestep)
        if self._neg_cond is not None and self.guidance_scale != 1.0:
            both = self._unet(
                torch.cat([xin, xin]),
                timestep,
                torch.cat([self._expand(self._neg_cond, len(x)), self._expand(self._cond, len(x))]),
            )
            neg, pos = both.chunk(2)
            return neg + self.guidance_scale * (pos - neg)
        return self._unet(xin, timestep, self._cond)

    # ---- DiffusionModel protocol -----------------------------------------------------------
    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        x = torch.randn((n, *self.shape), generator=generator, device=generator.device, dtype=torch.float32)
        return (x.to(self.device, self.dtype)) * float(self.scheduler.init_noise_sigma)

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        """The scheduler's ``pred_original_sample`` at step ``t`` (``t = 0``: ``x`` itself)."""
        if int(t) == 0:
            return x
        timestep = self.timestep(t)
        out = self.scheduler.step(self.model_output(x, t), timestep, x, eta=0.0, return_dict=True)
        return out.pred_original_sample

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """One DDIM step ``x_t -> x_{t-1}`` with noise scale ``eta`` drawn from ``generator``."""
        timestep = self.timestep(t)
        noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
        out = self.scheduler.step(
            self.model_output(x, t),
            timestep,
            x,
            eta=self.eta,
            variance_noise=noise.to(x.device, x.dtype),
            return_dict=True,
        )
        return out.prev_sample

    def renoise(self, x0: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """``x_t ~ q(x_t | x0)`` at step ``t``: the scheduler's ``add_noise`` with noise drawn from ``generator``."""
        noise = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=torch.float32)
        timesteps = torch.full((x0.shape[0],), self.timestep(t), device=x0.device, dtype=torch.long)
        return self.scheduler.add_noise(x0, noise.to(x0.device, x0.dtype), timesteps)

    def guided_propose(self, x: Tensor, t: int, generator: torch.Generator, guide: Callable, scale: float) -> Tensor:
        """DPS: the proposal shifted by ``scale * d guide(x_t, t) / d x_t``."""
        return self.propose(x, t, generator) + scale * value_gradient(guide, x, t)

    def decode_tensor(self, x0: Tensor) -> Tensor:
        """Pixel-space tensor ``[n, C, H, W]`` in about ``[-1, 1]`` (through the VAE if there is one)."""
        if self.vae is None:
            return x0
        outs = []
        for start in range(0, len(x0), self.decode_batch_size):
            z = x0[start : start + self.decode_batch_size] / self.vae_scaling_factor
            dec = self.vae.decode(z.to(next(self.vae.parameters()).dtype))
            outs.append(dec.sample if hasattr(dec, "sample") else dec[0])
        return torch.cat(outs)

    def decode(self, x0: Tensor) -> list:
        """Objects for rewards: ``decoder(x0)`` if given, else uint8 images (via the VAE if any)."""
        if self.decoder is not None:
            return self.decoder(x0)
        with torch.no_grad():
            return tensor_to_uint8(self.decode_tensor(x0))

"""Absorbing-state (masked) discrete diffusion in the MDLM "subs" parameterization."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.guidance import value_gradient
from svdd_ray.models.stacking import network_pass


class MaskedDiffusion(nn.Module):
    """Wrap a network ``net(x, t) -> x0 logits`` as a masked diffusion model.

    ``x`` holds token ids ``0..vocab_size-1`` or the mask id ``vocab_size``; ``t`` is the
    diffusion time in [0, 1] (one float per row); the network returns logits
    ``[n, seq_len, vocab_size]`` over clean tokens (it never predicts the mask: "subs").
    The schedule is log-linear, ``alpha_t = 1 - t``, so at reverse step ``k`` each masked
    token is revealed with probability ``1/k`` and revealed tokens are carried over.
    """

    def __init__(
        self,
        network: nn.Module,
        vocab_size: int,
        seq_len: int,
        num_steps: int = 100,
        decoder: Callable[[Tensor], list] | None = None,
    ) -> None:
        super().__init__()
        if vocab_size < 1 or seq_len < 1 or num_steps < 1:
            raise ValueError("vocab_size, seq_len and num_steps must all be >= 1")
        self.network = network
        self.vocab_size = vocab_size
        self.mask_id = vocab_size
        self.seq_len = seq_len
        self.num_steps = num_steps
        self.decoder = decoder

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters(), torch.empty(0)).device

    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.full((n, self.seq_len), self.mask_id, dtype=torch.long, device=self.device)

    def _time(self, x: Tensor, t: int) -> Tensor:
        return torch.full((x.shape[0],), t / self.num_steps, device=x.device)

    def x0_logits(self, x: Tensor, t: int) -> Tensor:
        """Logits of the clean tokens given states at step ``t``."""
        return self.network(x, self._time(x, t))

    def reverse_probs(self, x: Tensor, t: int, log_tilt: Tensor | None = None) -> Tensor:
        """Per-position distribution of ``x_{t-1}`` over ``vocab_size + 1`` outcomes (mask last).

        ``log_tilt`` (``[n, seq_len, vocab_size + 1]``) multiplies each outcome by ``exp(tilt)``
        before renormalising; gradient guidance uses it.
        """
        return self._reverse_probs(x, t, self.x0_logits(x, t), log_tilt)

    def _reverse_probs(self, x: Tensor, t: int, logits: Tensor, log_tilt: Tensor | None = None) -> Tensor:
        clean = torch.softmax(logits.float(), dim=-1)
        reveal = 1.0 / t
        masked_row = torch.cat([clean * reveal, torch.full_like(clean[..., :1], 1.0 - reveal)], dim=-1)
        kept_row = F.one_hot(x, self.vocab_size + 1).to(clean.dtype)
        probs = torch.where((x == self.mask_id).unsqueeze(-1), masked_row, kept_row)
        if log_tilt is not None:
            tilt = log_tilt - log_tilt.amax(dim=-1, keepdim=True)
            probs = probs * torch.exp(tilt)
            probs = probs / probs.sum(dim=-1, keepdim=True)
        return probs

    def _draw(self, probs: Tensor, generator: torch.Generator) -> Tensor:
        n, length, k = probs.shape
        return torch.multinomial(probs.reshape(-1, k), 1, generator=generator).view(n, length)

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        return self._draw(self.reverse_probs(x, t), generator)

    def guided_propose(self, x: Tensor, t: int, generator: torch.Generator, guide: Callable, scale: float) -> Tensor:
        """Predictor guidance (Nisonoff et al.): tilt transitions by the value's gradient.

        ``guide(onehot, t)`` takes float one-hot states ``[n, seq_len, vocab_size + 1]`` and must
        be differentiable in them; each outcome's log-probability moves by ``scale * grad``.
        """
        onehot = F.one_hot(x, self.vocab_size + 1).float()
        grad = value_gradient(guide, onehot, t)
        return self._draw(self.reverse_probs(x, t, log_tilt=scale * grad), generator)

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        return x if t == 0 else self._fill_argmax(x, self.x0_logits(x, t))

    def _fill_argmax(self, x: Tensor, logits: Tensor) -> Tensor:
        return torch.where(x == self.mask_id, logits.argmax(dim=-1), x)

    def propose_stacked(self, xs: list[Tensor], ts: list[int], generators: list[torch.Generator]) -> list[Tensor]:
        """``[propose(x, t, g) for ...]`` with one network pass for all rows (see :mod:`svdd_ray.protocol`)."""
        logits = network_pass(self.network, xs, ts, self._time)
        return [self._draw(self._reverse_probs(x, t, lg), g) for x, t, lg, g in zip(xs, ts, logits, generators)]

    def predict_x0_stacked(self, xs: list[Tensor], ts: list[int]) -> list[Tensor]:
        """``[predict_x0(x, t) for ...]`` with one network pass for all rows."""
        logits = network_pass(self.network, xs, ts, self._time)
        return [x if lg is None else self._fill_argmax(x, lg) for x, lg in zip(xs, logits)]

    def x0_probabilities(self, x: Tensor, t: int, fill: str = "soft") -> Tensor:
        """Per-position distributions over the clean tokens, ``[n, seq_len, vocab_size]`` (float32).

        Revealed positions are one-hot; masked ones hold the model's ``x0`` distribution at step
        ``t`` (``fill="soft"``) or ``1 / vocab_size`` each (``fill="uniform"``, no network call).
        """
        if fill not in ("soft", "uniform"):
            raise ValueError(f"fill must be 'soft' or 'uniform', got {fill!r}")
        masked = (x == self.mask_id).unsqueeze(-1)
        revealed = F.one_hot(torch.where(masked.squeeze(-1), 0, x), self.vocab_size).float()
        if t == 0 or not bool(masked.any()):
            return revealed
        if fill == "uniform":
            guess = torch.full_like(revealed, 1.0 / self.vocab_size)
        else:
            guess = torch.softmax(self.x0_logits(x, t).float(), dim=-1)
        return torch.where(masked, guess, revealed)

    def renoise(self, x0: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """``x_t ~ q(x_t | x0)``: each position masked with probability ``t / num_steps`` (the forward process)."""
        masked = torch.rand(x0.shape, generator=generator, device=x0.device) < t / self.num_steps
        return torch.where(masked, torch.full_like(x0, self.mask_id), x0)

    def sample_x0(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """One completion of each row: masked positions drawn independently from the model's ``x0`` distribution."""
        if t == 0:
            return x
        probs = self.x0_probabilities(x, t, "soft")
        return self._draw(probs, generator)

    def decode(self, x0: Tensor) -> list:
        if self.decoder is not None:
            return self.decoder(x0)
        return x0.tolist()

    def loss(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The MDLM continuous-time NELBO per token, averaged over the batch.

        Times are low-discrepancy (one uniform offset, then evenly spaced over the batch), which
        keeps the 1/t-weighted estimate's variance down without changing its expectation.
        """
        n, length = x0.shape
        offset = torch.rand(1, device=x0.device, generator=generator)
        t = ((offset + torch.arange(n, device=x0.device) / n) % 1.0).clamp_min(1e-3)
        masked = torch.rand(n, length, device=x0.device, generator=generator) < t.unsqueeze(1)
        z = torch.where(masked, torch.full_like(x0, self.mask_id), x0)
        logits = self.network(z, t)
        nll = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")
        per_row = (nll * masked).sum(dim=1) / (t * length)
        return per_row.mean()

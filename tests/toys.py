"""Enumerable toy models whose sampling distributions and soft values are known exactly."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from svdd_ray.models import MaskedDiffusion, noise_schedule

# ---------------------------------------------------------------- masked diffusion over {0,1}^L


class ExactPosteriorNet(nn.Module):
    """x0 logits equal to the exact marginals of ``p_data`` given the revealed tokens."""

    def __init__(self, support: Tensor, probs: Tensor, vocab_size: int) -> None:
        super().__init__()
        self.register_buffer("support", support)
        self.register_buffer("probs", probs)
        self.vocab_size = vocab_size

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        agree = (x[:, None, :] == self.support[None]) | (x[:, None, :] == self.vocab_size)
        w = self.probs[None] * agree.all(-1)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-300)  # unreachable states: uniform
        onehot = nn.functional.one_hot(self.support, self.vocab_size).to(w.dtype)
        return torch.einsum("nk,klv->nlv", w, onehot).clamp_min(1e-30).log()


class BinaryToy:
    """Masked diffusion over binary strings with exact p_pre, soft values and targets."""

    def __init__(self, length: int = 4, num_steps: int = 4, seed: int = 0, vocab: int = 2) -> None:
        g = torch.Generator().manual_seed(seed)
        strings = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
        probs = -torch.rand(len(strings), generator=g, dtype=torch.float64).log()  # Dirichlet(1, ..., 1)
        probs[torch.randperm(len(strings), generator=g)[: len(strings) // 4]] = 0.0  # holes in the data
        probs = probs / probs.sum()
        self.length, self.strings, self.vocab = length, strings, vocab
        self.model = MaskedDiffusion(ExactPosteriorNet(strings, probs, vocab), vocab, length, num_steps)
        # A reward with distinct values per string, so "the best" is unique.
        self.reward = torch.rand(len(strings), generator=g, dtype=torch.float64) * 2.0
        self.states = torch.tensor(list(itertools.product(range(vocab + 1), repeat=length)))
        self.transitions = [None] + [self._transition(t) for t in range(1, num_steps + 1)]
        self.p_pre = self._p_pre()

    # --- indexing
    def state_index(self, x: Tensor) -> Tensor:
        powers = (self.vocab + 1) ** torch.arange(self.length - 1, -1, -1)
        return (x.long() * powers).sum(-1)

    def string_index(self, x: Tensor) -> Tensor:
        powers = self.vocab ** torch.arange(self.length - 1, -1, -1)
        return (x.long() * powers).sum(-1)

    def revealed(self) -> Tensor:
        return (self.states != self.vocab).all(-1)

    # --- exact quantities
    def _transition(self, t: int) -> Tensor:
        probs = self.model.reverse_probs(self.states, t).double()  # [S, L, 3]
        picked = probs[:, torch.arange(self.length)[None, :], self.states]  # [S, S', L]
        return picked.prod(-1)

    def _p_pre(self) -> Tensor:
        p = torch.zeros(len(self.states), dtype=torch.float64)
        p[self.state_index(torch.full((self.length,), self.vocab))] = 1.0
        for t in range(self.model.num_steps, 0, -1):
            p = p @ self.transitions[t]
        return p[self.state_index(self.strings)]

    def target(self, alpha: float) -> Tensor:
        """p*(x0) ∝ p_pre(x0) exp(r(x0)/alpha), over all binary strings."""
        logits = self.p_pre.log() + self.reward / alpha
        return torch.softmax(logits, 0)

    def soft_values(self, alpha: float) -> list[Tensor]:
        """Exact v_t(s) = alpha log E[exp(r/alpha) | s] for every state, t = 0..T (alpha=0: max)."""
        v0 = torch.full((len(self.states),), -math.inf, dtype=torch.float64)
        v0[self.state_index(self.strings)] = self.reward
        tables = [v0]
        for t in range(1, self.model.num_steps + 1):
            log_p = self.transitions[t].log()
            prev = tables[-1]
            if alpha == 0:
                nxt = torch.where(log_p > -math.inf, prev[None, :], -math.inf).amax(-1)
            else:
                nxt = alpha * torch.logsumexp(log_p + prev[None, :] / alpha, dim=-1)
            tables.append(nxt)
        return tables

    def exact_value(self, alpha: float):
        tables = self.soft_values(alpha)

        def value(x: Tensor, t: int) -> Tensor:
            return tables[t][self.state_index(x)]

        return value

    def reward_fn(self, objects: list) -> list[float]:
        """A reward over decoded objects (lists of ints)."""
        idx = self.string_index(torch.tensor(objects))
        return self.reward[idx].tolist()

    def empirical(self, x0: Tensor) -> Tensor:
        counts = torch.bincount(self.string_index(x0), minlength=len(self.strings)).double()
        return counts / counts.sum()


def tv(p: Tensor, q: Tensor) -> float:
    return 0.5 * float((p - q).abs().sum())


# ---------------------------------------------------------------- left-to-right over {0..V-1}^L


class ExactCausalNet(nn.Module):
    """Next-token logits equal to the exact conditionals ``p(x_k | x_<k)`` of a table over strings.

    The recurrent "state" is the prefix itself, so ``read``/``advance`` match :class:`CausalLSTM`'s.
    """

    def __init__(self, support: Tensor, probs: Tensor, vocab_size: int) -> None:
        super().__init__()
        self.register_buffer("support", support)
        self.register_buffer("probs", probs)
        self.vocab_size = vocab_size

    def read(self, prefix: Tensor) -> tuple[Tensor, Tensor]:
        k = prefix.shape[1]
        agree = (self.support[None, :, :k] == prefix[:, None, :]).all(-1)  # [n, S]
        w = self.probs[None] * agree
        onehot = nn.functional.one_hot(self.support[:, k], self.vocab_size).to(w.dtype)
        return (w @ onehot).clamp_min(1e-300).log(), prefix

    def advance(self, token: Tensor, prefix: Tensor) -> tuple[Tensor, Tensor]:
        return self.read(torch.cat([prefix, token[:, None]], dim=1))


class CausalToy:
    """A left-to-right diffusion over all strings of ``length`` letters with exact p_pre and values."""

    def __init__(self, length: int = 4, vocab: int = 3, block_size: int = 1, seed: int = 0) -> None:
        from svdd_ray.models.autoregressive import LeftToRightDiffusion

        g = torch.Generator().manual_seed(seed)
        self.strings = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
        probs = -torch.rand(len(self.strings), generator=g, dtype=torch.float64).log()
        probs[torch.randperm(len(self.strings), generator=g)[: len(self.strings) // 4]] = 0.0
        self.p_pre = probs / probs.sum()
        self.reward = torch.rand(len(self.strings), generator=g, dtype=torch.float64) * 2.0
        self.length, self.vocab = length, vocab
        net = ExactCausalNet(self.strings, self.p_pre, vocab)
        self.model = LeftToRightDiffusion(net, vocab, length, block_size=block_size)

    def string_index(self, x: Tensor) -> Tensor:
        powers = self.vocab ** torch.arange(self.length - 1, -1, -1)
        return (x.long() * powers).sum(-1)

    def target(self, alpha: float) -> Tensor:
        return torch.softmax(self.p_pre.log() + self.reward / alpha, 0)

    def exact_value(self, alpha: float):
        """v(x) = alpha log E[exp(r / alpha) | revealed prefix of x] (alpha = 0: the best reachable reward)."""
        model = self.model

        def value(x: Tensor, t: int) -> Tensor:
            k = model.revealed(t)
            agree = (self.strings[None, :, :k] == x[:, None, :k]).all(-1) & (self.p_pre > 0)[None]
            if alpha == 0:
                return torch.where(agree, self.reward[None], -math.inf).amax(-1)
            w = torch.where(agree, self.p_pre[None], 0.0)
            return alpha * torch.log((w * torch.exp(self.reward / alpha)[None]).sum(-1) / w.sum(-1))

        return value

    def empirical(self, x0: Tensor) -> Tensor:
        counts = torch.bincount(self.string_index(x0), minlength=len(self.strings)).double()
        return counts / counts.sum()


# ---------------------------------------------------------------- 1-D Gaussian mixture


class MixtureEpsNet(nn.Module):
    """The exact epsilon-prediction of a 1-D Gaussian mixture under a given noise schedule."""

    def __init__(self, weights, means, stds, schedule: str = "linear", num_train_steps: int = 1000) -> None:
        super().__init__()
        self.register_buffer("w", torch.tensor(weights, dtype=torch.float64))
        self.register_buffer("mu", torch.tensor(means, dtype=torch.float64))
        self.register_buffer("s", torch.tensor(stds, dtype=torch.float64))
        self.register_buffer("abar", noise_schedule(schedule, num_train_steps))

    def components(self, x: Tensor, abar: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-component responsibility, marginal mean and variance of x_t."""
        m = abar.sqrt()[:, None] * self.mu[None]
        var = abar[:, None] * self.s[None] ** 2 + (1 - abar)[:, None]
        log_r = self.w.log()[None] - 0.5 * (x - m) ** 2 / var - 0.5 * var.log()
        return torch.softmax(log_r, -1), m, var

    def forward(self, x: Tensor, timestep: Tensor) -> Tensor:
        abar = self.abar[timestep.long()]
        xd = x.double().reshape(-1, 1)
        r, m, var = self.components(xd, abar)
        score = (r * -(xd - m) / var).sum(-1, keepdim=True)
        return (-(1 - abar).sqrt()[:, None] * score).to(x.dtype).reshape(x.shape)

    def posterior_mean(self, x: Tensor, abar: float) -> Tensor:
        """E[x0 | x_t] by Bayes, component by component (independent of Tweedie's formula)."""
        a = torch.full((x.shape[0],), abar, dtype=torch.float64)
        xd = x.double().reshape(-1, 1)
        r, m, var = self.components(xd, a)
        gain = math.sqrt(abar) * self.s[None] ** 2 / var
        return (r * (self.mu[None] + gain * (xd - m))).sum(-1)

    def cdf(self, x: Tensor) -> Tensor:
        z = (x.double().reshape(-1, 1) - self.mu[None]) / self.s[None]
        return (self.w[None] * 0.5 * (1 + torch.erf(z / math.sqrt(2)))).sum(-1)


def tiny_unet(in_channels: int = 1, sample_size: int = 8) -> torch.nn.Module:
    """A randomly initialised, tiny diffusers UNet (no downloads)."""
    import diffusers

    torch.manual_seed(0)
    return diffusers.UNet2DModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=in_channels,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    ).eval()

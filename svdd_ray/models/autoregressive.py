"""Left-to-right (block autoregressive) discrete diffusion: masked diffusion with a fixed reveal order.

A masked diffusion model reveals masked tokens in a random order; this one reveals them left to
right, ``block_size`` tokens per reverse step, each drawn from a causal model ``p(x_i | x_<i)``.
Seen from the samplers it is the same kind of object — a reverse-time Markov chain over
partly masked token rows with an ``x0`` estimate — so SVDD, SMC, beam search and best-of-N run
on it unchanged: candidates for step ``t`` are different continuations of the next block, and
``predict_x0`` completes the rest of the row greedily (the most likely continuation, token by
token), the left-to-right counterpart of the masked model's one-shot ``argmax``.

Random-order masked diffusion has to learn every conditional of every order; a left-to-right
model learns one, which is why autoregressive SMILES models reach MOSES-grade naturalness with
little compute (BD3-LM, Arriola et al. 2025, interpolate between the two).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CausalLSTM", "LeftToRightDiffusion"]


class CausalLSTM(nn.Module):
    """Next-token logits from an LSTM over ``[start] + x[:-1]``; ``start`` is the id ``vocab_size``.

    ``forward(x)`` gives the logits of every position (teacher forcing); :meth:`read` runs a prefix
    and returns the logits of the next position with the recurrent state, :meth:`advance` feeds
    one more token.
    """

    def __init__(self, vocab_size: int, d_embed: int = 64, hidden: int = 256, layers: int = 2, dropout: float = 0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size + 1, d_embed)
        self.lstm = nn.LSTM(d_embed, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def _start(self, n: int, device: torch.device) -> Tensor:
        return torch.full((n, 1), self.vocab_size, dtype=torch.long, device=device)

    def forward(self, x: Tensor) -> Tensor:
        inputs = torch.cat([self._start(len(x), x.device), x[:, :-1]], dim=1)
        out, _ = self.lstm(self.embed(inputs))
        return self.head(out)

    def read(self, prefix: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits ``[n, vocab_size]`` of the token after ``prefix`` (``[n, k]``, k >= 0) and the state."""
        inputs = torch.cat([self._start(len(prefix), prefix.device), prefix], dim=1)
        out, state = self.lstm(self.embed(inputs))
        return self.head(out[:, -1]), state

    def advance(self, token: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Feed ``token`` (``[n]``); logits of the next position and the new state."""
        out, state = self.lstm(self.embed(token[:, None]), state)
        return self.head(out[:, -1]), state


class LeftToRightDiffusion(nn.Module):
    """A causal network ``net`` (see :class:`CausalLSTM`) as a left-to-right discrete diffusion model.

    States are ``[n, seq_len]`` rows of token ids ``0..vocab_size-1`` with the mask id
    ``vocab_size`` on the not yet revealed suffix. There are ``ceil(seq_len / block_size)``
    reverse steps; step ``t`` reveals positions ``(T - t) * block_size`` onwards, one block.
    ``temperature`` scales the logits when sampling (1.0: the trained model).
    """

    def __init__(
        self,
        network: nn.Module,
        vocab_size: int,
        seq_len: int,
        block_size: int = 4,
        temperature: float = 1.0,
        decoder: Callable[[Tensor], list] | None = None,
        constraint: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        if vocab_size < 1 or seq_len < 1 or block_size < 1:
            raise ValueError("vocab_size, seq_len and block_size must all be >= 1")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.network = network
        self.vocab_size = vocab_size
        self.mask_id = vocab_size
        self.seq_len = seq_len
        self.block_size = block_size
        self.temperature = float(temperature)
        self.num_steps = math.ceil(seq_len / block_size)
        self.decoder = decoder
        self.constraint = constraint

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters(), torch.empty(0)).device

    def with_block_size(self, block_size: int) -> LeftToRightDiffusion:
        """The same model (shared network) revealing ``block_size`` tokens per step.

        Pretrained samples do not depend on the block size; one block of ``seq_len`` reads each
        prefix once, the fastest way to draw them.
        """
        return LeftToRightDiffusion(
            self.network, self.vocab_size, self.seq_len, block_size, self.temperature, self.decoder, self.constraint
        )

    def revealed(self, t: int) -> int:
        """Number of positions revealed in states at step ``t``."""
        return min(self.seq_len, (self.num_steps - t) * self.block_size)

    def renoise(self, x0: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """The state at step ``t`` on the way to ``x0``: its first ``revealed(t)`` tokens, the rest masked."""
        out = x0.clone()
        out[:, self.revealed(t) :] = self.mask_id
        return out

    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.full((n, self.seq_len), self.mask_id, dtype=torch.long, device=self.device)

    def _extend(self, x: Tensor, start: int, stop: int, pick: Callable[[Tensor], Tensor]) -> Tensor:
        out = x.clone()
        if start >= stop:
            return out
        logits, state = self.network.read(x[:, :start])
        for pos in range(start, stop):
            logits = logits.float()
            if self.constraint is not None:
                logits = logits.masked_fill(~self.constraint(out[:, :pos]), float("-inf"))
            out[:, pos] = pick(logits)
            if pos + 1 < stop:
                logits, state = self.network.advance(out[:, pos], state)
        return out

    def _draw(self, logits: Tensor, generator: torch.Generator) -> Tensor:
        probs = torch.softmax(logits / self.temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        return self._extend(x, self.revealed(t), self.revealed(t - 1), lambda logits: self._draw(logits, generator))

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        """The greedy completion of the revealed prefix (``t = 0``: ``x`` itself)."""
        if t == 0:
            return x
        return self._extend(x, self.revealed(t), self.seq_len, lambda logits: logits.argmax(dim=-1))

    def _stacked(self, xs: list[Tensor], ts: list[int], stop: Callable[[int], int], pick: Callable) -> list[Tensor]:
        """Calls of the same step extended together (one recurrent pass per step); ``pick(logits, i)`` picks
        the tokens of call ``i``'s rows."""
        out: list[Tensor] = list(xs)
        for t in sorted(set(ts)):
            group = [i for i, s in enumerate(ts) if s == t and t > 0]
            if not group:
                continue
            sizes = [len(xs[i]) for i in group]

            def pick_rows(logits: Tensor, group: list[int] = group, sizes: list[int] = sizes) -> Tensor:
                return torch.cat([pick(part, i) for part, i in zip(logits.split(sizes), group)])

            joined = self._extend(torch.cat([xs[i] for i in group]), self.revealed(t), stop(t), pick_rows)
            for i, part in zip(group, joined.split(sizes)):
                out[i] = part
        return out

    def propose_stacked(self, xs: list[Tensor], ts: list[int], generators: list[torch.Generator]) -> list[Tensor]:
        """``[propose(x, t, g) for ...]``, the calls at the same step in one pass (see :mod:`svdd_ray.protocol`)."""
        stop, pick = (lambda t: self.revealed(t - 1)), (lambda logits, i: self._draw(logits, generators[i]))
        return self._stacked(xs, ts, stop, pick)

    def predict_x0_stacked(self, xs: list[Tensor], ts: list[int]) -> list[Tensor]:
        """``[predict_x0(x, t) for ...]``, the calls at the same step in one pass."""
        return self._stacked(xs, ts, lambda t: self.seq_len, lambda logits, i: logits.argmax(dim=-1))

    def greedy_completion(self, x: Tensor) -> Tensor:
        """Each row's revealed prefix (the tokens before its first mask) completed greedily; the rows'
        prefixes may differ in length (states of different steps, as a value network sees them)."""
        out = x.clone()
        revealed = (x != self.mask_id).long().cumprod(dim=1).sum(dim=1)
        for start in revealed.unique().tolist():
            rows = revealed == start
            out[rows] = self._extend(x[rows], int(start), self.seq_len, lambda logits: logits.argmax(dim=-1))
        return out

    def decode(self, x0: Tensor) -> list:
        if self.decoder is not None:
            return self.decoder(x0)
        return x0.tolist()

    def loss(self, x0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Negative log-likelihood per token of the rows of ``x0`` (up to and including the first pad, id 0).

        Tokens after a row's first pad are not scored: the molecule has ended there.
        """
        logits = self.network(x0)
        nll = F.cross_entropy(logits.float().transpose(1, 2), x0, reduction="none")
        ended_before = (x0 == 0).long().cumsum(dim=1) - (x0 == 0).long()
        scored = (ended_before == 0).float()
        return (nll * scored).sum() / scored.sum().clamp_min(1.0)

"""The RNA prior: a masked diffusion whose clean sequences are i.i.d. uniform over A, C, G, U.

The paper's RNA prior (Li et al., arXiv 2408.08252) was trained on the 50-nt 5'UTRs of an MPRA
library of *random* sequences. A model fitted to such a library learns, at best, the library's
own distribution: each position independently uniform over {A, C, G, U}. No natural RNA corpus
ships in a registry package this project can install, so the prior here is that distribution
exactly: :class:`~svdd_ray.models.MaskedDiffusion` over a network that returns constant (zero)
logits. It needs no training and no checkpoint; any ``length`` and ``num_steps``.

**The SVDD-PM value on this prior.** The base class fills masked positions with the argmax of
the logits, which for uniform logits is always ``A``: a poly-A guess, the same for every state,
that says nothing about the design. For this prior the exact posterior of the clean sequence
given a partially masked one is known — masked positions i.i.d. uniform, revealed ones as they
are — so ``predict_x0`` can complete a state with an exact posterior draw, and the PM value
``r(decode(predict_x0(x_t)))`` becomes a one-sample Monte Carlo estimate of ``E[r(x0) | x_t]``,
the quantity SVDD's value approximates. ``completion`` picks the completion:

* ``"shared"`` (default): the draw for masked position ``i`` at step ``t`` is a fixed hash of
  ``(completion_seed, t, i)``, the same for every state scored at that step. Each state still
  gets a uniform completion of its own masked positions, but the ``M`` candidates of a chain are
  compared on one common sampled future (common random numbers), so the noise of the draw
  largely cancels in the comparison that selection makes. All chains of all runs with the same
  ``completion_seed`` see the same future at step ``t`` (it changes every step).
* ``"sample"``: an independent draw per state, seeded by a hash of the state's own tokens
  (unbiased like ``shared``, but the candidates' values differ by independent noise).
* ``"unpaired"``: no draw: a masked position is the IUPAC ``N`` ("any base", the sequence
  analogue of the posterior mean), which ViennaRNA folds as a base that pairs with nothing. The
  value is then the reward of the structure the revealed bases form on their own: deterministic,
  but flat until whole helices are revealed, and it prefers states that form no wrong pair.
* ``"argmax"``: the base class's fill (all ``A``), kept for comparison.

Each completion is a deterministic function of the state and step, as the engine needs (the
local and Ray backends, replays and the reward cache then agree). In the value ablation of
``docs/rna_results.md`` (SVDD-PM, 16 designs), ``shared`` gave the best median on stability and
the four completions were within noise of each other on two structure targets.

States are token ids ``A C G U = 0 1 2 3``, mask ``4``; :meth:`RnaPrior.decode` writes masks as
``N`` (the RNA rewards read ``N`` as an unpaired base of unknown identity).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from svdd_ray.errors import ConfigError
from svdd_ray.models import MaskedDiffusion

__all__ = ["ALPHABET", "COMPLETIONS", "RnaPrior", "UniformLogits", "decode", "encode", "load_prior"]

ALPHABET = "ACGU"
#: Letter written for a masked position (IUPAC "any base").
MASK_LETTER = "N"
COMPLETIONS = ("unpaired", "sample", "shared", "argmax")
_LETTERS = np.array(list(ALPHABET + MASK_LETTER))
_CODE = {letter: i for i, letter in enumerate(ALPHABET)}
_CODE["T"] = _CODE["U"]


class UniformLogits(nn.Module):
    """``net(x, t) -> zeros [n, length, 4]``: the clean-token distribution is uniform at every position.

    It holds one empty parameter only so that ``.to(device)`` moves the model (and
    :attr:`MaskedDiffusion.device` follows).
    """

    def __init__(self, length: int, vocab_size: int = 4) -> None:
        super().__init__()
        self.length, self.vocab_size = length, vocab_size
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.zeros(x.shape[0], self.length, self.vocab_size, device=x.device)


class RnaPrior(MaskedDiffusion):
    """``MaskedDiffusion`` over ACGU with uniform clean tokens and a ``predict_x0`` chosen by ``completion``."""

    def __init__(self, length: int = 50, num_steps: int = 25, completion: str = "shared", completion_seed: int = 0):
        if completion not in COMPLETIONS:
            raise ConfigError(f"completion: must be one of {', '.join(COMPLETIONS)}, got {completion!r}")
        super().__init__(UniformLogits(length), vocab_size=4, seq_len=length, num_steps=num_steps, decoder=decode)
        self.completion = completion
        self.completion_seed = int(completion_seed)

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        if t == 0 or self.completion == "argmax":
            return super().predict_x0(x, t)
        masked = x == self.mask_id
        if self.completion == "unpaired":
            return x  # masks stay masks; decode() writes them as N, which folds unpaired
        if self.completion == "shared":
            key = torch.tensor([[self.completion_seed, t]], device=x.device)
            fill = _hashed_uniform(key, self.vocab_size, x.shape[1]).expand_as(x)
        else:
            fill = _hashed_uniform(x, self.vocab_size, x.shape[1])
        return torch.where(masked, fill, x)


def _hashed_uniform(key: Tensor, vocab_size: int, length: int) -> Tensor:
    """Uniform tokens ``[n, length]``, row ``r`` a fixed function of ``key[r]`` (FNV-1a, then splitmix64)."""
    rows = key.detach().cpu().numpy().astype(np.int64).astype(np.uint64)
    n = rows.shape[0]
    with np.errstate(over="ignore"):
        h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
        for j in range(rows.shape[1]):  # hash the key, one entry at a time
            h = (h ^ rows[:, j]) * np.uint64(0x100000001B3)
        pos = np.arange(1, length + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = h[:, None] + pos[None, :]
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    draws = (z >> np.uint64(32)) % np.uint64(vocab_size)
    return torch.from_numpy(draws.astype(np.int64)).to(key.device)


def decode(x0: Tensor) -> list[str]:
    """Token ids to RNA strings (``A C G U``; a mask id writes ``N``)."""
    ids = x0.detach().cpu().numpy().clip(0, len(ALPHABET))
    return ["".join(row) for row in _LETTERS[ids]]


def encode(sequences: list[str]) -> Tensor:
    """RNA strings (A, C, G, U; T read as U; any case) of one length to token ids ``[n, length]``."""
    if isinstance(sequences, str):
        raise ValueError("sequences: expected a list of RNA strings, got one str")
    rows = []
    for i, seq in enumerate(sequences):
        if not isinstance(seq, str):
            raise ValueError(f"sequences[{i}]: expected an RNA string, got {type(seq).__name__}")
        try:
            rows.append([_CODE[c] for c in seq.upper()])
        except KeyError as err:
            raise ValueError(f"sequences[{i}]: letter {err.args[0]!r} is not one of A, C, G, U (or T)") from None
        if len(rows[-1]) != len(rows[0]):
            raise ValueError(f"sequences[{i}]: length {len(seq)}, the first sequence has {len(rows[0])}")
    return torch.tensor(rows, dtype=torch.long).view(len(rows), -1)


def load_prior(length: int = 50, num_steps: int = 25, completion: str = "shared", completion_seed: int = 0) -> RnaPrior:
    """The RNA prior over ``length``-nt sequences, ``num_steps`` reverse steps (the ``rna`` model of configs).

    ``completion`` (and ``completion_seed`` for ``shared``): how SVDD-PM's ``predict_x0`` completes
    masked positions (module docstring).
    """
    for name, value in (("length", length), ("num_steps", num_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: must be an integer >= 1, got {value!r}")
    if isinstance(completion_seed, bool) or not isinstance(completion_seed, int) or completion_seed < 0:
        raise ConfigError(f"completion_seed: must be an integer >= 0, got {completion_seed!r}")
    return RnaPrior(length, num_steps, completion, completion_seed)

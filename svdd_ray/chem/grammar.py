"""SMILES syntax as a mask over the next token, for left-to-right priors (constrained decoding).

:class:`SmilesSyntax` looks at the prefix of each row and allows only tokens that keep it a
syntactically possible SMILES: branches close only when open and never right after opening,
ring-bond digits follow atoms, bonds or other ring digits and never close a ring on the atom that
opened it or on the next atom of its chain (both would duplicate a bond), the molecule ends only
with every branch and ring closed, and nothing but the end token follows the end. It knows
nothing of valence or aromaticity (RDKit still rejects, e.g., a five-membered ring of aromatic
carbons), nor of two ring bonds between the same two atoms.
Vectorised over rows; the state is recomputed from the prefix, so any prefix can be asked about.
"""

from __future__ import annotations

import torch
from torch import Tensor

from svdd_ray.chem.tokens import SmilesVocab

__all__ = ["SmilesSyntax"]

# token classes
START, ATOM, BOND, OPEN, CLOSE, RING, END = range(7)
_BONDS = frozenset("-=#:/\\.")


def _token_class(token: str, index: int) -> int:
    if index == 0:
        return END
    if token == "(":
        return OPEN
    if token == ")":
        return CLOSE
    if token.isdigit() or token.startswith("%"):
        return RING
    if token in _BONDS:
        return BOND
    return ATOM


#: next-token classes allowed after each class (CLOSE and END carry extra conditions)
_FOLLOWS = {
    START: {ATOM},
    ATOM: {ATOM, BOND, OPEN, CLOSE, RING, END},
    RING: {ATOM, BOND, OPEN, CLOSE, RING, END},
    BOND: {ATOM, RING},
    OPEN: {ATOM, BOND},
    CLOSE: {ATOM, BOND, OPEN, CLOSE, END},
    END: {END},
}


class SmilesSyntax:
    """``syntax(prefix) -> allowed``: a boolean ``[n, V]`` mask of the tokens that may come next."""

    def __init__(self, vocab: SmilesVocab) -> None:
        if not isinstance(vocab, SmilesVocab):
            raise TypeError(f"SmilesSyntax needs a SmilesVocab, got {type(vocab).__name__}")
        classes = [_token_class(tok, i) for i, tok in enumerate(vocab.tokens)]
        rings = sorted({tok for tok, c in zip(vocab.tokens, classes) if c == RING})
        self.classes = torch.tensor(classes + [START])  # the mask id (unrevealed) counts as nothing yet
        self.ring_label = torch.tensor([rings.index(t) if t in rings else -1 for t in vocab.tokens] + [-1])
        self.num_rings = max(len(rings), 1)
        self.size = len(vocab.tokens)
        table = torch.zeros(7, self.size, dtype=torch.bool)
        for before, after in _FOLLOWS.items():
            table[before] = torch.tensor([c in after for c in classes])
        self.follows = table
        self.class_mask = {c: torch.tensor([k == c for k in classes]) for c in (CLOSE, END)}
        self.ring_of_token = self.ring_label[: self.size]

    def __call__(self, prefix: Tensor) -> Tensor:
        n, k = prefix.shape
        device = prefix.device
        if k == 0:
            return self.follows[START].to(device).expand(n, -1).clone()
        cls = self.classes.to(device)[prefix]
        depth = (cls == OPEN).sum(1) - (cls == CLOSE).sum(1)
        labels = self.ring_label.to(device)[prefix]
        slots = (labels + 1).clamp_min(0)  # slot 0 collects the non-ring tokens
        counts = torch.zeros(n, self.num_rings + 1, dtype=torch.long, device=device)
        counts.scatter_add_(1, slots, torch.ones_like(labels))
        is_open = counts[:, 1:] % 2 == 1
        rings_open = is_open.sum(1)
        # a ring opened since the last atom cannot close on that same atom ("C11")
        positions = torch.arange(k, device=device).expand(n, -1)
        last_seen = torch.full((n, self.num_rings + 1), -1, dtype=torch.long, device=device)
        last_seen.scatter_reduce_(1, slots, positions, reduce="amax")
        last_atom = torch.where(cls == ATOM, positions, -1).amax(1)
        self_closing = is_open & (last_seen[:, 1:] > last_atom[:, None])  # [n, rings]
        # nor on the next atom of the chain, which is bonded to the opener already ("C1C1")
        atoms_so_far = (cls == ATOM).long().cumsum(1)
        parens_so_far = ((cls == OPEN) | (cls == CLOSE)).long().cumsum(1)
        opened_at = last_seen[:, 1:].clamp_min(0)
        atoms_since = atoms_so_far[:, -1:] - atoms_so_far.gather(1, opened_at)
        parens_since = parens_so_far[:, -1:] - parens_so_far.gather(1, opened_at)
        self_closing |= is_open & (atoms_since == 1) & (parens_since == 0)
        ended = (cls == END).any(1)
        last = torch.where(ended, torch.full_like(cls[:, -1], END), cls[:, -1])
        allowed = self.follows.to(device)[last]
        close, end = self.class_mask[CLOSE].to(device), self.class_mask[END].to(device)
        allowed &= ~(close[None] & (depth <= 0)[:, None])
        allowed &= ~(end[None] & ((depth > 0) | (rings_open > 0))[:, None] & ~ended[:, None])
        ring_of_token = self.ring_of_token.to(device)
        is_ring = ring_of_token >= 0
        blocked = torch.zeros_like(allowed)
        blocked[:, is_ring] = self_closing[:, ring_of_token[is_ring]]
        return allowed & ~blocked

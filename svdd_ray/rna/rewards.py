"""RNA rewards from ViennaRNA's minimum-free-energy (MFE) folding: ``list[str] -> list[float]``.

* :func:`stability`: ``-MFE / length`` in kcal/mol/nt (higher = more stable; a sequence that
  forms no structure, such as poly-A, scores 0).
* :class:`TargetStructure`: ``-bp_distance(MFE structure, target)`` for a dot-bracket target
  (0 = the design folds into the target: solved).

Energies are ViennaRNA's defaults (Turner 2004 parameters, 37 °C, dangles = 2). Sequences are
strings over ``A C G U``, in either case; ``T`` is read as ``U`` (ViennaRNA does the same), and
``N`` is an unknown base that pairs with nothing (the RNA prior writes masked positions as ``N``
for its SVDD-PM value, see :mod:`svdd_ray.rna.prior`). Anything else — another letter, an empty
string, a non-string, a single string instead of a list, a length that differs from the target
— raises ``ValueError`` naming the row (the engine then scores row by row and marks only the bad
ones invalid). Each reward is keyed for the engine's cache on the normalised sequence
(upper case, ``T`` as ``U``); the structure reward's key also holds its target, so a cache file
shared by runs with different targets never mixes them up.
"""

from __future__ import annotations

from collections.abc import Sequence

import RNA

from svdd_ray.errors import ConfigError
from svdd_ray.rewards import keyed_by, reads

__all__ = ["TargetStructure", "fold", "normalise", "parse_target", "sequence_key", "stability"]

_ALLOWED = frozenset("ACGUN")


def normalise(sequence: object, row: int | None = None) -> str:
    """The sequence in upper case with ``T`` as ``U``; ValueError (naming ``sequences[row]``) if it is not RNA."""
    where = "sequence" if row is None else f"sequences[{row}]"
    if not isinstance(sequence, str):
        raise ValueError(f"{where}: expected an RNA string, got {type(sequence).__name__}")
    seq = sequence.upper().replace("T", "U")
    if not seq:
        raise ValueError(f"{where}: empty sequence")
    bad = set(seq) - _ALLOWED
    if bad:
        letter = next(c for c in seq if c in bad)
        raise ValueError(
            f"{where}: {letter!r} at position {seq.index(letter)} is not an RNA letter (A, C, G, U; T = U; N = unknown)"
        )
    return seq


def _rows(sequences: Sequence) -> list[str]:
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence):
        raise ValueError(f"sequences: expected a list of RNA strings, got {type(sequences).__name__}")
    return [normalise(s, i) for i, s in enumerate(sequences)]


def sequence_key(sequence: object) -> str:
    """Cache key: the normalised sequence (the text itself when it is not RNA, so it stays invalid)."""
    try:
        return normalise(sequence)
    except ValueError:
        return str(sequence)


def fold(sequences: Sequence) -> list[tuple[str, float]]:
    """``(MFE structure, MFE in kcal/mol)`` of each sequence (validated as the rewards do)."""
    out = []
    for seq in _rows(sequences):
        structure, mfe = RNA.fold(seq)
        out.append((structure, float(mfe)))
    return out


@reads("rna")
@keyed_by(sequence_key)
def stability(sequences: Sequence) -> list[float]:
    """``-MFE / length`` (kcal/mol/nt) of each sequence; 0 for one that forms no structure."""
    return [0.0 - mfe / len(structure) for structure, mfe in fold(sequences)]


def parse_target(target: object) -> list[tuple[int, int]]:
    """The base pairs ``(i, j)`` (0-based, ``i < j``) of a dot-bracket target; ConfigError (``target: ...``) if bad.

    Only ``(``, ``)`` and ``.`` are accepted (no pseudoknots: MFE folding cannot make them), the
    brackets must balance, and every hairpin loop needs at least 3 unpaired bases (ViennaRNA,
    like the Turner model, forms no tighter hairpin, so such a target could never be solved).
    """
    if not isinstance(target, str) or not target:
        raise ConfigError(f"target: expected a dot-bracket string such as '((...))', got {target!r}")
    stack, pairs = [], []
    for i, c in enumerate(target):
        if c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise ConfigError(f"target: unbalanced ')' at position {i} (nothing open to close)")
            pairs.append((stack.pop(), i))
        elif c != ".":
            raise ConfigError(f"target: {c!r} at position {i} is not '(', ')' or '.' (no pseudoknots)")
    if stack:
        raise ConfigError(f"target: unbalanced '(' at position {stack[-1]} (never closed)")
    for i, j in pairs:
        if j - i - 1 < 3 and all(target[k] == "." for k in range(i + 1, j)):
            raise ConfigError(f"target: the hairpin closed by ({i}, {j}) has {j - i - 1} unpaired bases; at least 3")
    return sorted(pairs)


class TargetStructure:
    """``-bp_distance(MFE structure, target)``: 0 when a sequence folds into ``target``.

    ``target`` is a dot-bracket string, or the name of one of :data:`svdd_ray.rna.targets.TARGETS`
    (``two_hairpins50``). The distance counts base pairs in one structure and not the other
    (ViennaRNA's ``bp_distance``), so the worst score is minus (target pairs + predicted pairs).
    """

    #: the objects it scores (a model of another domain is refused when the config loads)
    reads = "rna"

    def __init__(self, target: str) -> None:
        from svdd_ray.rna.targets import TARGETS

        if isinstance(target, str) and target in TARGETS:
            target = TARGETS[target].structure
        elif isinstance(target, str) and target and not set(target) & set("()."):
            raise ConfigError(f"target: {target!r} is neither a dot-bracket string nor a target ({', '.join(TARGETS)})")
        self.pairs = parse_target(target)
        self.target = target

    @property
    def length(self) -> int:
        return len(self.target)

    def canonical_key(self, sequence: object) -> str:
        return f"{self.target}|{sequence_key(sequence)}"

    def check_lengths(self, sequences: list[str]) -> None:
        for i, seq in enumerate(sequences):
            if len(seq) != self.length:
                raise ValueError(f"sequences[{i}]: length {len(seq)}, the target structure has {self.length}")

    def distances(self, sequences: Sequence) -> list[int]:
        """Base-pair distance of each sequence's MFE structure to the target."""
        rows = _rows(sequences)
        self.check_lengths(rows)
        return [int(RNA.bp_distance(RNA.fold(seq)[0], self.target)) for seq in rows]

    def __call__(self, sequences: Sequence) -> list[float]:
        return [float(-d) for d in self.distances(sequences)]

    def __repr__(self) -> str:
        return f"TargetStructure({self.target!r})"

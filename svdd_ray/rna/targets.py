"""Target secondary structures (dot-bracket, 30-80 nt) for the ``rna_structure`` reward.

Written for this project, one per motif class that RNA-design benchmarks such as Eterna100 test
(hairpins, bulges, internal loops, multiloops of three and four branches, separate domains),
from short and easy to the length of a tRNA. They are not copies of Eterna100 puzzles. The
``trna76`` target is the canonical tRNA cloverleaf (the layout of yeast tRNA-Phe: 7-bp acceptor
stem, D stem 4 bp with an 8-nt loop, anticodon stem 5 bp with a 7-nt loop, a 5-nt variable
loop, T stem 5 bp with a 7-nt loop, a 4-nt 3' tail). Every target is solvable under ViennaRNA's
default energies: ``RNA.inverse_fold`` finds a sequence that folds into each
(``tests/rna/test_rna.py`` checks that for the short ones).

Use one in a config as ``reward.components.0.options.target`` (the string itself), or by name
from Python: ``TargetStructure(TARGETS["two_hairpins50"].structure)``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TARGETS", "Target", "target"]


@dataclass(frozen=True)
class Target:
    """A named dot-bracket target and what it tests."""

    name: str
    structure: str
    motif: str

    @property
    def length(self) -> int:
        return len(self.structure)

    @property
    def pairs(self) -> int:
        return self.structure.count("(")


_TARGETS = [
    Target("hairpin30", "...((((((((((....))))))))))...", "one 10-bp stem, tetraloop"),
    Target(
        "bulge_hairpin40",
        "..(((((.((((..((((....))))..)))))))))...",
        "stem-loop with a 1-nt bulge and a 2x2 internal loop",
    ),
    Target(
        "two_hairpins50",
        "..((((((....))))))....((((((((......))))))))......",
        "two hairpins side by side (the paper's 50-nt length)",
    ),
    Target(
        "internal_loops50",
        "...(((((...(((((..(((((....)))))...)))))..)))))...",
        "one long stem-loop broken by two internal loops",
    ),
    Target(
        "three_way60",
        "....(((((..((((((....))))))...(((((((.....)))))))..)))))....",
        "three-way junction (multiloop with two hairpins)",
    ),
    Target(
        "four_way70",
        "....(((((.(((((.....)))))..(((((....))))).((((((.....))))))..)))))....",
        "four-way junction (multiloop with three hairpins)",
    ),
    Target(
        "trna76",
        "(((((((..((((........)))).(((((.......))))).....(((((.......))))))))))))....",
        "tRNA cloverleaf (four-way junction, 76 nt)",
    ),
    Target(
        "three_hairpins80",
        "......(((((((....)))))))...((((((((.....))))))))....(((((((......)))))))........",
        "three hairpins in the exterior loop",
    ),
]

#: The targets by name, shortest first.
TARGETS: dict[str, Target] = {t.name: t for t in _TARGETS}


def target(name: str) -> str:
    """The dot-bracket of the target ``name``; KeyError listing the names otherwise."""
    try:
        return TARGETS[name].structure
    except KeyError:
        raise KeyError(f"unknown RNA target {name!r}: one of {', '.join(TARGETS)}") from None

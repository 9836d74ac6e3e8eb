"""Cheap molecular rewards: ``list[str] -> list[float]`` (SMILES in, one float out).

Every reward returns ``NaN`` for an invalid, empty or unparseable molecule (or a
non-string object) and never raises for a bad molecule. Higher is better for
``qed``, ``sa`` (normalised) and ``penalized_logp``; ``logp`` and
``molecular_weight`` are plain descriptors (useful in composites).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors

from svdd_ray.rewards import keyed_by, reads

__all__ = [
    "canonical_key",
    "canonical_smiles",
    "to_mol",
    "qed",
    "sa",
    "sa_raw",
    "logp",
    "penalized_logp",
    "molecular_weight",
    "ring_penalty",
    "size_penalty",
    "largest_ring_size",
    "weighted_sum",
    "molecule_key",
]

RDLogger.DisableLog("rdApp.*")
NAN = float("nan")


# ------------------------------------------------------------------ parsing
@lru_cache(maxsize=65536)
def _mol_from_smiles(smiles: str):
    try:
        mol = Chem.MolFromSmiles(smiles)
    except Exception:
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def to_mol(smiles) -> Chem.Mol | None:
    """RDKit molecule of a SMILES string, or ``None`` (empty, invalid, not a str)."""
    if not isinstance(smiles, str):
        return None
    smiles = smiles.strip()
    if not smiles:
        return None
    return _mol_from_smiles(smiles)


def canonical_key(smiles) -> str:
    """Canonical (isomeric) SMILES of a molecule, ``""`` if invalid; use as cache key."""
    mol = to_mol(smiles)
    if mol is None:
        return ""
    try:
        return Chem.MolToSmiles(mol)
    except Exception:
        return ""


def molecule_key(smiles) -> str:
    """The reward cache key of a molecule: its canonical SMILES (the raw text if it does not parse)."""
    return canonical_key(smiles) or str(smiles)


def canonical_smiles(smiles_list: Iterable) -> list[str]:
    """:func:`canonical_key` of each molecule."""
    return [canonical_key(s) for s in smiles_list]


def _apply(fn: Callable[[Chem.Mol], float], smiles_list: Sequence) -> list[float]:
    if isinstance(smiles_list, str):
        raise TypeError("rewards take a list of SMILES, not a single string")
    out = []
    for smi in smiles_list:
        mol = to_mol(smi)
        if mol is None:
            out.append(NAN)
            continue
        try:
            value = float(fn(mol))
        except Exception:
            value = NAN
        out.append(value if math.isfinite(value) else NAN)
    return out


# --------------------------------------------------------------- SA scorer
@lru_cache(maxsize=1)
def _sascorer():
    """Ertl & Schuffenhauer's SA scorer from RDKit's Contrib directory."""
    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if not os.path.isfile(os.path.join(path, "sascorer.py")):
        raise ModuleNotFoundError(f"RDKit's SA_Score contrib module not found under {path}")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer  # type: ignore[import-not-found]

    sascorer.readFragmentScores()  # load fpscores.pkl.gz once, not at first call
    return sascorer


def _sa_score(mol) -> float:
    return _sascorer().calculateScore(mol)


# --------------------------------------------------------- ring helpers
def _largest_ring(mol) -> int:
    rings = mol.GetRingInfo().AtomRings()
    return max((len(r) for r in rings), default=0)


def _cycle_penalty(mol) -> float:
    return float(max(_largest_ring(mol) - 6, 0))


# ---------------------------------------------------------------- rewards
@reads("molecules")
@keyed_by(molecule_key)
def qed(smiles_list: Sequence[str]) -> list[float]:
    """Quantitative estimate of drug-likeness (Bickerton et al. 2012), in [0, 1]."""
    return _apply(QED.qed, smiles_list)


def sa_raw(smiles_list: Sequence[str]) -> list[float]:
    """Synthetic accessibility score (Ertl & Schuffenhauer 2009): 1 (easy) .. 10 (hard)."""
    return _apply(_sa_score, smiles_list)


@reads("molecules")
@keyed_by(molecule_key)
def sa(smiles_list: Sequence[str]) -> list[float]:
    """Normalised synthetic accessibility ``(10 - SA) / 9`` in [0, 1]; higher = easier.

    This is the normalisation used in the SVDD paper's molecule experiments.
    """
    return _apply(lambda m: (10.0 - _sa_score(m)) / 9.0, smiles_list)


@reads("molecules")
@keyed_by(molecule_key)
def logp(smiles_list: Sequence[str]) -> list[float]:
    """Wildman-Crippen logP."""
    return _apply(Crippen.MolLogP, smiles_list)


@reads("molecules")
@keyed_by(molecule_key)
def penalized_logp(smiles_list: Sequence[str]) -> list[float]:
    """``logP - SA - max(largest ring size - 6, 0)`` (unnormalised, as in JT-VAE)."""
    return _apply(lambda m: Crippen.MolLogP(m) - _sa_score(m) - _cycle_penalty(m), smiles_list)


@reads("molecules")
@keyed_by(molecule_key)
def molecular_weight(smiles_list: Sequence[str]) -> list[float]:
    """Average molecular weight (g/mol), hydrogens included."""
    return _apply(Descriptors.MolWt, smiles_list)


def largest_ring_size(smiles_list: Sequence[str]) -> list[float]:
    """Size of the largest SSSR ring (0 for acyclic molecules)."""
    return _apply(lambda m: float(_largest_ring(m)), smiles_list)


def ring_penalty(smiles_list: Sequence[str], max_ring_size: int = 6) -> list[float]:
    """``max(largest ring size - max_ring_size, 0)``: 0 for normal molecules, >0 for big rings.

    Subtract it in a composite (see :func:`weighted_sum`) to discourage
    macrocycles that reward hacking tends to produce.
    """
    return _apply(lambda m: float(max(_largest_ring(m) - max_ring_size, 0)), smiles_list)


def size_penalty(smiles_list: Sequence[str], min_heavy_atoms: int = 10, max_heavy_atoms: int = 40) -> list[float]:
    """Distance (in heavy atoms) of a molecule's size from ``[min, max]``; 0 inside."""

    def penalty(m) -> float:
        n = m.GetNumHeavyAtoms()
        return float(max(min_heavy_atoms - n, 0) + max(n - max_heavy_atoms, 0))

    return _apply(penalty, smiles_list)


def weighted_sum(*terms: tuple[Callable[[list], Sequence[float]], float]) -> Callable[[list], list[float]]:
    """Composite reward ``sum_i w_i * f_i(smiles)``; NaN if any term is NaN.

    Example: ``weighted_sum((qed, 1.0), (sa, 0.5), (ring_penalty, -0.2))``.
    """
    if not terms:
        raise ValueError("weighted_sum needs at least one (reward, weight) pair")

    def composite(smiles_list: Sequence[str]) -> list[float]:
        total = [0.0] * len(smiles_list)
        for fn, weight in terms:
            values = list(fn(smiles_list))
            if len(values) != len(total):
                raise ValueError(f"{fn!r} returned {len(values)} values for {len(total)} molecules")
            total = [a + float(weight) * float(b) for a, b in zip(total, values)]
        return [v if math.isfinite(v) else NAN for v in total]

    composite.__name__ = "weighted_sum(" + ", ".join(f"{getattr(fn, '__name__', 'f')}*{w:g}" for fn, w in terms) + ")"
    return composite

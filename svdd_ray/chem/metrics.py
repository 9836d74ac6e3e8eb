"""Quality metrics for generated molecules (MOSES-style, computed with RDKit).

All functions take SMILES lists; invalid or empty strings count as invalid.

* ``validity``: fraction of strings that are non-empty and parse.
* ``uniqueness``: distinct canonical SMILES / valid molecules.
* ``novelty``: fraction of the distinct valid molecules absent from a reference set
  (the MOSES train set, canonicalised with the installed RDKit).
* ``internal_diversity``: ``1 - mean Tanimoto`` over distinct pairs (i != j; MOSES'
  IntDiv also averages the diagonal) of Morgan fingerprints (radius 2, 2048 bits) of
  the distinct valid molecules, subsampled to ``max_molecules`` for speed.
* ``property_distances``: 1-Wasserstein distances of QED, SA (raw 1..10 score), logP
  and molecular weight between the valid molecules and a reference sample.
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Iterable, Sequence

import numpy as np
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from svdd_ray.chem.rewards import canonical_key, logp, molecular_weight, qed, sa_raw, to_mol

__all__ = [
    "validity",
    "uniqueness",
    "novelty",
    "internal_diversity",
    "property_values",
    "property_distances",
    "evaluate",
    "moses_train_canonical",
    "PROPERTIES",
]

#: property name -> function ``list[str] -> list[float]``
PROPERTIES = {"qed": qed, "sa": sa_raw, "logp": logp, "mw": molecular_weight}


def _valid_canonical(smiles: Iterable) -> list[str]:
    return [k for k in (canonical_key(s) for s in smiles) if k]


def validity(smiles: Sequence) -> float:
    """Fraction of entries that are valid molecules (NaN for an empty list)."""
    if len(smiles) == 0:
        return math.nan
    return sum(to_mol(s) is not None for s in smiles) / len(smiles)


def uniqueness(smiles: Sequence) -> float:
    """Distinct valid molecules / valid molecules (NaN if none is valid)."""
    valid = _valid_canonical(smiles)
    return len(set(valid)) / len(valid) if valid else math.nan


def novelty(smiles: Sequence, reference: Iterable[str]) -> float:
    """Fraction of distinct valid molecules not in ``reference`` (canonical SMILES)."""
    distinct = set(_valid_canonical(smiles))
    if not distinct:
        return math.nan
    reference = reference if isinstance(reference, (set, frozenset)) else set(reference)
    return sum(s not in reference for s in distinct) / len(distinct)


def internal_diversity(
    smiles: Sequence, max_molecules: int = 2000, seed: int = 0, radius: int = 2, n_bits: int = 2048
) -> float:
    """``1 - mean pairwise Tanimoto`` of distinct valid molecules (NaN if fewer than 2)."""
    distinct = sorted(set(_valid_canonical(smiles)))
    if len(distinct) > max_molecules:
        distinct = random.Random(seed).sample(distinct, max_molecules)
    if len(distinct) < 2:
        return math.nan
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = [generator.GetFingerprint(to_mol(s)) for s in distinct]
    total, pairs = 0.0, 0
    for i in range(1, len(fps)):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        total += float(sum(sims))
        pairs += len(sims)
    return 1.0 - total / pairs


def property_values(smiles: Sequence, properties: Sequence[str] = tuple(PROPERTIES)) -> dict[str, np.ndarray]:
    """Finite property values of the valid molecules, one array per property."""
    valid = [s for s in smiles if to_mol(s) is not None]
    out = {}
    for name in properties:
        values = np.asarray(PROPERTIES[name](valid), dtype=float)
        out[name] = values[np.isfinite(values)]
    return out


def property_distances(
    smiles: Sequence,
    reference: Sequence[str] | dict[str, np.ndarray],
    properties: Sequence[str] = tuple(PROPERTIES),
) -> dict[str, float]:
    """1-Wasserstein distance per property between ``smiles`` and ``reference``.

    ``reference`` is a SMILES list or precomputed :func:`property_values`.
    """
    from scipy.stats import wasserstein_distance

    gen = property_values(smiles, properties)
    ref = reference if isinstance(reference, dict) else property_values(reference, properties)
    out = {}
    for name in properties:
        if len(gen[name]) == 0 or len(ref[name]) == 0:
            out[name] = math.nan
        else:
            out[name] = float(wasserstein_distance(gen[name], ref[name]))
    return out


def moses_train_canonical(cache: bool = True, progress=None) -> frozenset[str]:
    """Canonical SMILES (installed RDKit) of the MOSES train set, cached on disk.

    The first call canonicalises 1.58 M molecules (~4 min on one core).
    """
    from rdkit import rdBase

    from svdd_ray.chem.data import cache_dir, load_smiles

    path = cache_dir() / f"moses_train_canonical_rdkit{rdBase.rdkitVersion}.txt.gz"
    if cache and path.is_file():
        with gzip.open(path, "rt") as handle:
            return frozenset(handle.read().split())
    smiles = load_smiles("train")
    keys = []
    for i, s in enumerate(smiles):
        keys.append(canonical_key(s) or s)
        if progress is not None and (i + 1) % 100000 == 0:
            progress(i + 1, len(smiles))
    if cache:
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt") as handle:
            handle.write("\n".join(keys) + "\n")
        tmp.replace(path)
    return frozenset(keys)


def evaluate(
    smiles: Sequence,
    train: Iterable[str] | None = None,
    reference: Sequence[str] | dict[str, np.ndarray] | None = None,
    diversity_molecules: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """All metrics in one dict; novelty needs ``train``, distances need ``reference``."""
    out = {
        "n": float(len(smiles)),
        "validity": validity(smiles),
        "uniqueness": uniqueness(smiles),
        "internal_diversity": internal_diversity(smiles, max_molecules=diversity_molecules, seed=seed),
    }
    if train is not None:
        out["novelty"] = novelty(smiles, train)
    if reference is not None:
        for name, value in property_distances(smiles, reference).items():
            out[f"w1_{name}"] = value
    return out

"""The Morgan-fingerprint surrogate of molecules (built-in ``morgan_ridge``): features for the generic ridge."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from svdd_ray.surrogates import LinearSurrogate, RidgeSurrogate, load_surrogate

__all__ = ["morgan_ridge"]


def _morgan_counts(radius: int, n_bits: int):
    def features(smiles: Sequence[str]) -> np.ndarray:
        from rdkit.Chem import rdFingerprintGenerator

        from svdd_ray.chem.rewards import to_mol

        generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        out = np.full((len(smiles), n_bits), math.nan)
        for row, text in enumerate(smiles):
            mol = to_mol(text)
            if mol is not None:
                out[row] = generator.GetCountFingerprintAsNumPy(mol)
        return np.log1p(out)

    return features


def morgan_ridge(
    radius: int = 2, n_bits: int = 2048, l2: float = 1.0, weights: str | None = None
) -> RidgeSurrogate | LinearSurrogate:
    """Ridge on log Morgan count fingerprints of SMILES (built-in surrogate ``morgan_ridge``), learned online;
    with ``weights`` (an ``.npz`` from ``jobs/fit_surrogate.py``) the frozen model fitted offline."""
    features = _morgan_counts(radius, n_bits)
    if weights is not None:
        return load_surrogate(weights, features, radius=radius, n_bits=n_bits)
    return RidgeSurrogate(features, l2)

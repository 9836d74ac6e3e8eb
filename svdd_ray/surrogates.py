"""Cheap surrogates of an expensive reward, learned online, for pre-screening candidates.

A surrogate is ``target(**options)`` returning an object with ``fit(objects, scores)`` and
``predict(objects) -> np.ndarray`` (see :class:`Surrogate`). Pre-screening
(:func:`prescreen`, configured per reward component as ``prescreen:``) ranks a step's candidates by
the surrogate, sends the best share (plus a few random ones, to explore) to the expensive reward and
gives the rest the surrogate's prediction. The surrogate of a batch learns only from the scores of
that batch's own earlier steps, so which candidates are scored never depends on timing: runs stay
deterministic under a seed, with any number of batches in flight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Surrogate", "RidgeSurrogate", "build_surrogates", "morgan_ridge", "onehot_ridge", "prescreen"]


@runtime_checkable
class Surrogate(Protocol):
    """A regressor over objects, refitted from scratch by each ``fit``."""

    def fit(self, objects: Sequence, scores: Sequence[float]) -> None: ...

    def predict(self, objects: Sequence) -> np.ndarray: ...


class RidgeSurrogate:
    """Kernel ridge regression with a linear kernel on ``features(objects)`` (rows), solved in the dual.

    The dual form costs ``O(n^2 d)`` for ``n`` scored objects, cheap for the hundreds a batch sees.
    Features are standardised by the training rows; predictions of an unfitted surrogate are NaN.
    """

    def __init__(self, features, l2: float = 1.0) -> None:
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2!r}")
        self.features, self.l2 = features, float(l2)
        self._fitted: tuple | None = None

    def fit(self, objects: Sequence, scores: Sequence[float]) -> None:
        y = np.asarray(scores, dtype=np.float64)
        keep = np.isfinite(y)
        if keep.sum() < 2:
            self._fitted = None
            return
        x = self.features([o for o, k in zip(objects, keep) if k])
        y = y[keep]
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        gram = z @ z.T / z.shape[1]
        dual = np.linalg.solve(gram + self.l2 * np.eye(len(z)), y - y.mean())
        self._fitted = (mean, scale, z, dual, y.mean())

    def predict(self, objects: Sequence) -> np.ndarray:
        if self._fitted is None:
            return np.full(len(objects), math.nan)
        mean, scale, z, dual, offset = self._fitted
        q = (self.features(list(objects)) - mean) / scale
        return offset + (q @ z.T / z.shape[1]) @ dual


def _morgan_counts(radius: int, n_bits: int):
    def features(smiles: Sequence[str]) -> np.ndarray:
        from rdkit.Chem import rdFingerprintGenerator

        from svdd_ray.chem.rewards import to_mol

        generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        out = np.zeros((len(smiles), n_bits))
        for row, text in enumerate(smiles):
            mol = to_mol(text)
            if mol is not None:
                out[row] = generator.GetCountFingerprintAsNumPy(mol)
        return np.log1p(out)

    return features


def morgan_ridge(radius: int = 2, n_bits: int = 2048, l2: float = 1.0) -> RidgeSurrogate:
    """Ridge on log Morgan count fingerprints of SMILES (built-in surrogate ``morgan_ridge``)."""
    return RidgeSurrogate(_morgan_counts(radius, n_bits), l2)


def onehot_ridge(alphabet: str = "01", l2: float = 1.0) -> RidgeSurrogate:
    """Ridge on the per-position one-hot letters of equal-length strings (``onehot_ridge``; DNA: ``"ACGT"``)."""
    index = {letter: i for i, letter in enumerate(alphabet)}

    def features(strings: Sequence[str]) -> np.ndarray:
        length = max((len(s) for s in strings), default=0)
        out = np.zeros((len(strings), length * len(alphabet)))
        for row, text in enumerate(strings):
            for pos, letter in enumerate(text):
                if letter in index:
                    out[row, pos * len(alphabet) + index[letter]] = 1.0
        return out

    return RidgeSurrogate(features, l2)


def prescreen(predicted: np.ndarray, keep: float, explore: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the candidates to score: the top ``ceil(keep * n)`` by ``predicted``, ``explore`` of them at random.

    ``explore`` is the share of the budget drawn uniformly from the candidates not already picked;
    NaN predictions rank last. Returned sorted.
    """
    n = len(predicted)
    budget = min(n, math.ceil(keep * n))
    random_share = min(budget, round(explore * budget))
    order = np.argsort(np.where(np.isfinite(predicted), -predicted, np.inf), kind="stable")
    chosen = list(order[: budget - random_share])
    rest = order[budget - random_share :]
    if random_share:
        chosen += list(rng.choice(rest, size=random_share, replace=False))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def build_surrogates(components) -> dict[str, Surrogate]:
    """The surrogate of each reward component that has ``prescreen`` (by component name); errors name the key."""
    from svdd_ray.plugins import build

    out = {}
    for i, comp in enumerate(components):
        if comp.prescreen is not None:
            spec = comp.prescreen.surrogate
            key = f"reward.components[{i}].prescreen.surrogate.target"
            out[comp.name] = build("surrogate", spec.target, spec.options, key=key)
    return out

"""Statistics shared by the domains' naturalness metrics and the results tables."""

from __future__ import annotations

import numpy as np


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians; ``tr (S1 S2)^(1/2)`` from the eigenvalues of ``S1^(1/2) S2 S1^(1/2)``."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    diff = mu1 - mu2
    root = _psd_sqrt(sigma1)
    inner = root @ sigma2 @ root
    cross = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * cross)


def median_interval(values, draws: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """A bootstrap 95% interval ``(low, high)`` of the median (percentile method); None for fewer than 2 values."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(data, size=(draws, len(data)), replace=True), axis=1)
    low, high = np.quantile(medians, [0.025, 0.975])
    return float(low), float(high)


def median_interval_text(values, digits: int = 2) -> str:
    """:func:`median_interval` as ``low-high`` for a table cell; blank for fewer than 2 values."""
    interval = median_interval(values)
    return "" if interval is None else f"{interval[0]:.{digits}f}-{interval[1]:.{digits}f}"

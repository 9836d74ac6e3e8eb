"""Naturalness metrics of designed DNA, as the sequence-design field reports them.

All functions take ``[n, L]`` uint8/int tokens (``A C G T`` = 0..3; see :mod:`svdd_ray.dna.data`).

* :func:`kmer_spectrum`, :func:`kmer_correlation`: Pearson correlation of k-mer frequency spectra
  (3-mers and 6-mers are standard) between designs and natural sequences.
* :func:`gc_content`, :func:`longest_homopolymer`: per sequence.
* :func:`diversity`: mean pairwise Hamming distance per base (1 - identity); 0.75 for i.i.d. uniform letters.
* :func:`prior_nll`: per-base NELBO (nats, an upper bound on the NLL) under a masked-diffusion prior.
* :func:`markov_nll`: per-base NLL under a k-th order Markov chain fitted on other sequences (a classical
  reference); :func:`iid_tokens`: i.i.d. sequences with a given base composition (the floor).
* :func:`evaluate`: the table row of a set of designs against a natural reference set.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "kmer_spectrum",
    "kmer_correlation",
    "gc_content",
    "longest_homopolymer",
    "diversity",
    "uniqueness",
    "prior_nll",
    "markov_nll",
    "iid_tokens",
    "evaluate",
]


def _tokens(tokens) -> np.ndarray:
    array = np.asarray(tokens.cpu() if hasattr(tokens, "cpu") else tokens).astype(np.int64)
    if array.ndim != 2:
        raise ValueError(f"expected [n, L] DNA tokens, got shape {array.shape}")
    return array


def kmer_codes(tokens, k: int) -> np.ndarray:
    """``[n, L - k + 1]`` integer codes (base 4) of every k-mer window."""
    array = _tokens(tokens)
    n, length = array.shape
    codes = np.zeros((n, max(length - k + 1, 0)), dtype=np.int64)
    for offset in range(k):
        codes = codes * 4 + array[:, offset : offset + codes.shape[1]]
    return codes


def kmer_spectrum(tokens, k: int) -> np.ndarray:
    """Frequencies of all ``4**k`` k-mers over the set (forward strand), summing to 1."""
    counts = np.bincount(kmer_codes(tokens, k).ravel(), minlength=4**k).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def kmer_correlation(tokens_a, tokens_b, k: int) -> float:
    """Pearson correlation of the k-mer spectra of two sequence sets."""
    a, b = kmer_spectrum(tokens_a, k), kmer_spectrum(tokens_b, k)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def gc_content(tokens) -> np.ndarray:
    """Fraction of G and C per sequence."""
    array = _tokens(tokens)
    return ((array == 1) | (array == 2)).mean(axis=1)


def longest_homopolymer(tokens) -> np.ndarray:
    """Length of the longest run of one letter per sequence."""
    array = _tokens(tokens)
    n, length = array.shape
    run = np.ones(n, dtype=np.int64)
    best = np.ones(n, dtype=np.int64) if length else np.zeros(n, dtype=np.int64)
    for i in range(1, length):
        run = np.where(array[:, i] == array[:, i - 1], run + 1, 1)
        best = np.maximum(best, run)
    return best


def diversity(tokens, max_pairs: int = 20_000, seed: int = 0) -> float:
    """Mean pairwise Hamming distance per base (over all pairs, or ``max_pairs`` random ones)."""
    array = _tokens(tokens)
    n = len(array)
    if n < 2:
        return float("nan")
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, max_pairs)
        j = (i + rng.integers(1, n, max_pairs)) % n
    return float((array[i] != array[j]).mean())


def nearest_identity(tokens, reference, chunk: int = 256) -> np.ndarray:
    """For each sequence, the largest share of positions it shares with any ``reference`` sequence, on either
    strand (1.0: a copy; about 0.4 for unrelated sequences). Near-copies of the training data sit near 1."""
    from svdd_ray.dna.data import reverse_complement

    array = _tokens(tokens)
    ref = _tokens(reference)
    ref = np.concatenate([ref, reverse_complement(ref)])
    ref_hot = torch.nn.functional.one_hot(torch.from_numpy(ref.astype(np.int64)), 4).flatten(1).float()
    out = []
    for start in range(0, len(array), chunk):
        rows = torch.from_numpy(array[start : start + chunk].astype(np.int64))
        hot = torch.nn.functional.one_hot(rows, 4).flatten(1).float()
        out.append((hot @ ref_hot.T).amax(dim=1).double() / array.shape[1])  # whole counts: exact
    return torch.cat(out).numpy() if out else np.zeros(0)


def uniqueness(tokens) -> float:
    """Fraction of distinct sequences."""
    array = _tokens(tokens)
    return len({row.tobytes() for row in array.astype(np.uint8)}) / max(len(array), 1)


@torch.no_grad()
def prior_nll(model, tokens, draws: int = 4, batch_size: int = 256, seed: int = 0) -> float:
    """Mean per-base NELBO in nats of ``tokens`` under a masked-diffusion ``model`` (``draws`` noise draws each).

    The NELBO bounds the NLL from above; ``log(4) = 1.386`` nats is a uniform model's value.
    """
    array = torch.as_tensor(_tokens(tokens), device=model.device)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    total = 0.0
    for _ in range(draws):
        for start in range(0, len(array), batch_size):
            batch = array[start : start + batch_size]
            total += float(model.loss(batch, generator=generator)) * len(batch)
    return total / (draws * len(array))


def markov_nll(train_tokens, test_tokens, order: int = 5, pseudocount: float = 1.0) -> float:
    """Per-base NLL (nats) of ``test_tokens`` under an ``order``-th order Markov chain fitted on ``train_tokens``.

    Both strands of the training rows are counted; the first ``order`` bases of each test row are
    scored with lower orders (0 .. order - 1), so every base counts once.
    """
    from svdd_ray.dna.data import reverse_complement

    train = _tokens(train_tokens)
    train = np.concatenate([train, reverse_complement(train)])
    test = _tokens(test_tokens)
    total = 0.0
    for k in range(order + 1):  # context length k
        counts = np.bincount(kmer_codes(train, k + 1).ravel(), minlength=4 ** (k + 1)).astype(np.float64)
        table = (counts + pseudocount).reshape(-1, 4)
        logp = np.log(table / table.sum(axis=1, keepdims=True)).ravel()
        codes = kmer_codes(test, k + 1)
        scored = codes if k == order else codes[:, :1]  # lower orders only for the row's first bases
        total += logp[scored].sum()
    return float(-total / test.size)


def iid_tokens(n: int, length: int, composition: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[n, length]`` i.i.d. letters drawn with the base ``composition`` (4 frequencies)."""
    probs = np.asarray(composition, dtype=np.float64)
    return np.random.default_rng(seed).choice(4, size=(n, length), p=probs / probs.sum()).astype(np.uint8)


def evaluate(tokens, reference=None, motifs: bool = True) -> dict[str, float]:
    """GC, homopolymers, diversity, uniqueness; with ``reference`` tokens also 3-/6-mer and motif correlations."""
    array = _tokens(tokens)
    out = {
        "n": float(len(array)),
        "gc": float(gc_content(array).mean()),
        "longest_homopolymer": float(longest_homopolymer(array).mean()),
        "diversity": diversity(array),
        "uniqueness": uniqueness(array),
    }
    if reference is not None:
        out["kmer3_r"] = kmer_correlation(array, reference, 3)
        out["kmer6_r"] = kmer_correlation(array, reference, 6)
        if motifs:
            from svdd_ray.dna.motifs import motif_spearman

            out["motif_rho"] = motif_spearman(array, reference)
    return {k: (v if math.isfinite(v) else float("nan")) for k, v in out.items()}

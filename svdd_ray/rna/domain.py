"""The RNA domain: sequences as ACGU strings, judged by composition, diversity and folding energy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svdd_ray.domains import TextDomain

__all__ = ["RnaDomain", "mean_pairwise_hamming", "sequence_metrics"]

#: At most this many sequences enter the pairwise diversity (a fixed-seed subsample beyond it).
MAX_PAIRWISE = 1000


class RnaDomain(TextDomain):
    """RNA sequences (``A C G U`` strings): shown as text; no sample grid; metrics from :func:`sequence_metrics`."""

    name = "rna"

    def metrics(self, objects: Sequence[Any], reference: Any = None) -> dict[str, float]:
        return sequence_metrics(objects)


def _is_rna(obj: Any) -> bool:
    return isinstance(obj, str) and bool(obj) and set(obj) <= set("ACGU")


def mean_pairwise_hamming(sequences: Sequence[str], max_sequences: int = MAX_PAIRWISE) -> float:
    """Mean Hamming distance over all pairs, each divided by the pair's length (0 = identical, ~0.75 = random).

    Sequences of different lengths compare over the shorter one, the overhang counting as
    mismatches, divided by the longer length. NaN for fewer than two sequences.
    """
    seqs = list(sequences)
    if len(seqs) < 2:
        return float("nan")
    if len(seqs) > max_sequences:
        pick = np.random.default_rng(0).choice(len(seqs), max_sequences, replace=False)
        seqs = [seqs[i] for i in sorted(pick)]
    width = max(len(s) for s in seqs)
    codes = np.full((len(seqs), width), -1, dtype=np.int16)
    for i, s in enumerate(seqs):
        codes[i, : len(s)] = np.frombuffer(s.encode(), dtype=np.uint8)
    lengths = np.array([len(s) for s in seqs])
    total, pairs = 0.0, 0
    for i in range(len(seqs) - 1):
        other = codes[i + 1 :]
        mismatch = (other != codes[i]).sum(axis=1)  # padding (-1) vs a letter counts as a mismatch
        both_padded = ((other == -1) & (codes[i] == -1)).sum(axis=1)
        longer = np.maximum(lengths[i + 1 :], lengths[i])
        total += float(((mismatch - both_padded) / longer).sum())
        pairs += len(other)
    return total / pairs


def sequence_metrics(objects: Sequence[Any]) -> dict[str, float]:
    """Validity, uniqueness, GC content, diversity and MFE statistics of a run's sequences.

    * ``validity``: share of objects that are non-empty ``A C G U`` strings (the rest are left out below).
    * ``uniqueness``: distinct valid sequences / valid sequences.
    * ``gc_content``: mean share of G and C.
    * ``diversity``: :func:`mean_pairwise_hamming` (about 0.75 for i.i.d. uniform sequences).
    * ``mfe_mean``, ``mfe_median`` (kcal/mol), ``mfe_per_nt_mean`` (kcal/mol/nt) and ``paired_fraction``
      (share of nucleotides paired in the MFE structure), from ViennaRNA.
    """
    objects = list(objects)
    valid = [o for o in objects if _is_rna(o)]
    out = {"validity": len(valid) / len(objects) if objects else float("nan")}
    if not valid:
        return out
    import RNA

    folds = [RNA.fold(s) for s in valid]
    mfe = np.array([float(e) for _, e in folds])
    lengths = np.array([len(s) for s in valid], dtype=float)
    out.update(
        uniqueness=len(set(valid)) / len(valid),
        gc_content=float(np.mean([(s.count("G") + s.count("C")) / len(s) for s in valid])),
        diversity=mean_pairwise_hamming(valid),
        mfe_mean=float(mfe.mean()),
        mfe_median=float(np.median(mfe)),
        mfe_per_nt_mean=float((mfe / lengths).mean()),
        paired_fraction=float(np.mean([(len(st) - st.count(".")) / len(st) for st, _ in folds])),
    )
    return out

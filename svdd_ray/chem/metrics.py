"""Quality metrics for generated molecules: the MOSES set (Polykovskiy et al. 2020), computed with RDKit.

All functions take SMILES lists; invalid or empty strings count as invalid.

* ``validity``: fraction of strings that are non-empty and parse.
* ``uniqueness``: distinct canonical SMILES / valid molecules (MOSES unique@k with k >= n).
* ``novelty``: fraction of the distinct valid molecules absent from a reference set: canonical
  SMILES, or :class:`SmilesKeys` such as :func:`moses_train_keys` (the MOSES train set, seconds to load).
* ``internal_diversity``: ``1 - mean Tanimoto`` over distinct pairs (i != j) of Morgan fingerprints
  (radius 2, 2048 bits) of the distinct valid molecules, subsampled to ``max_molecules``. This is
  *not* MOSES' IntDiv (kept for comparison with earlier results); ``int_div`` is.
* ``property_distances``: 1-Wasserstein distances of QED, SA (raw 1..10 score), logP and molecular
  weight between the valid molecules and a reference sample.

MOSES metrics count every valid molecule, duplicates included, as MOSES does:

* ``int_div`` (IntDiv, IntDiv2): ``1 - mean_i (mean_j T_ij^p)^(1/p)`` over all pairs, i == j included,
  of Morgan fingerprints (radius 2, 1024 bits); p = 1 and 2.
* ``filters`` (Filters): fraction passing MOSES' filters (:func:`passes_filters`).
* ``snn`` (SNN): mean over molecules of the Tanimoto similarity to the nearest reference molecule.
* ``frag_similarity`` / ``scaf_similarity`` (Frag, Scaf): cosine similarity of BRICS fragment counts /
  Bemis-Murcko scaffold counts (scaffolds with two or more rings).
* FCD: :func:`svdd_ray.chem.fcd.fcd`.

Two ring statistics that the MOSES data pins down and weak priors get wrong (:func:`ring_fractions`):
``aromatic`` (fraction of valid molecules with an aromatic ring; MOSES test 0.98) and ``macrocycle``
(fraction with a ring of more than 8 atoms; MOSES test ~0).

:func:`evaluate` computes all of them; against the MOSES test set it uses the statistics MOSES ships in
``test_stats.npz`` (:func:`moses_test_stats`).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import math
import random
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

from svdd_ray.chem.fcd import FCDStats
from svdd_ray.chem.rewards import canonical_key, logp, molecular_weight, qed, sa_raw, to_mol

__all__ = [
    "validity",
    "uniqueness",
    "novelty",
    "internal_diversity",
    "int_div",
    "passes_filters",
    "filters",
    "ring_fractions",
    "morgan_fingerprints",
    "snn",
    "fragment_counts",
    "scaffold_counts",
    "cosine_similarity",
    "frag_similarity",
    "scaf_similarity",
    "property_values",
    "property_distances",
    "SmilesKeys",
    "noncanonical_smiles",
    "moses_train_keys",
    "moses_train_canonical",
    "MosesTestStats",
    "moses_test_stats",
    "MosesReference",
    "evaluate",
    "PROPERTIES",
    "ALLOWED_ATOMS",
]

#: property name -> function ``list[str] -> list[float]``
PROPERTIES = {"qed": qed, "sa": sa_raw, "logp": logp, "mw": molecular_weight}

#: elements a molecule may contain to pass MOSES' filters
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


def _valid_canonical(smiles: Iterable) -> list[str]:
    return [k for k in (canonical_key(s) for s in smiles) if k]


def _counts(smiles: Iterable) -> Counter[str]:
    """Canonical SMILES of the valid molecules with their multiplicity."""
    return Counter(_valid_canonical(smiles))


def validity(smiles: Sequence) -> float:
    """Fraction of entries that are valid molecules (NaN for an empty list)."""
    if len(smiles) == 0:
        return math.nan
    return sum(to_mol(s) is not None for s in smiles) / len(smiles)


def uniqueness(smiles: Sequence) -> float:
    """Distinct valid molecules / valid molecules (NaN if none is valid)."""
    valid = _valid_canonical(smiles)
    return len(set(valid)) / len(valid) if valid else math.nan


def novelty(smiles: Iterable, reference: Iterable[str] | SmilesKeys) -> float:
    """Fraction of distinct valid molecules not in ``reference`` (canonical SMILES or :class:`SmilesKeys`)."""
    distinct = sorted(set(_valid_canonical(smiles)))
    if not distinct:
        return math.nan
    if isinstance(reference, SmilesKeys):
        return float(1.0 - reference.contains(distinct).mean())
    reference = reference if isinstance(reference, (set, frozenset)) else set(reference)
    return sum(s not in reference for s in distinct) / len(distinct)


def internal_diversity(
    smiles: Sequence, max_molecules: int = 2000, seed: int = 0, radius: int = 2, n_bits: int = 2048
) -> float:
    """``1 - mean pairwise Tanimoto`` of distinct valid molecules (NaN if fewer than 2); not MOSES' IntDiv."""
    distinct = sorted(set(_valid_canonical(smiles)))
    if len(distinct) > max_molecules:
        distinct = random.Random(seed).sample(distinct, max_molecules)
    if len(distinct) < 2:
        return math.nan
    generator = _morgan(radius, n_bits)
    fps = [generator.GetFingerprint(to_mol(s)) for s in distinct]
    total, pairs = 0.0, 0
    for i in range(1, len(fps)):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        total += float(sum(sims))
        pairs += len(sims)
    return 1.0 - total / pairs


# ------------------------------------------------------------------ fingerprints, IntDiv and SNN
@lru_cache(maxsize=8)
def _morgan(radius: int, n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def morgan_fingerprints(smiles: Sequence[str], radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """Morgan bit vectors of valid SMILES as a ``uint8`` array ``(n, n_bits)`` (MOSES: radius 2, 1024 bits)."""
    generator = _morgan(radius, n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for row, s in enumerate(smiles):
        mol = to_mol(s)
        if mol is None:
            raise ValueError(f"not a valid molecule: {s!r}")
        out[row] = generator.GetFingerprintAsNumPy(mol)
    return out


def _tanimoto_blocks(fps: np.ndarray, by_bit: np.ndarray, block: int = 4096):
    """Yield ``(row_slice, column_slice, Tanimoto block)`` between the rows of ``fps`` ``(n, bits)`` and the
    columns of ``by_bit`` ``(bits, m)``; two empty fingerprints have similarity 1 (as in MOSES)."""
    for i in range(0, len(fps), block):
        a = fps[i : i + block].astype(np.float32)
        a_bits = a.sum(1)
        for j in range(0, by_bit.shape[1], block):
            b = by_bit[:, j : j + block].astype(np.float32)
            both = a @ b
            either = a_bits[:, None] + b.sum(0)[None, :] - both
            sims = np.divide(both, either, out=np.ones_like(both), where=either > 0)
            yield slice(i, i + len(a)), slice(j, j + b.shape[1]), sims


def _nearest_similarity(fps: np.ndarray, by_bit: np.ndarray, ref_bits: np.ndarray) -> np.ndarray:
    """Largest Tanimoto similarity of each row of ``fps`` to a column of ``by_bit`` (``ref_bits``: its sums)."""
    if len(fps) > 256:  # many molecules: dense products
        best = np.zeros(len(fps))
        for rows, _, sims in _tanimoto_blocks(fps, by_bit):
            best[rows] = np.maximum(best[rows], sims.max(1))
        return best
    best = np.empty(len(fps))  # a few: add up the reference rows of each molecule's on-bits
    for row, fp in enumerate(fps):
        on = np.flatnonzero(fp)
        both = by_bit[on].sum(0, dtype=np.int32)
        either = ref_bits + len(on) - both
        best[row] = np.divide(both, either, out=np.ones(len(both)), where=either > 0).max(initial=0.0)
    return best


def _weights(counts: Mapping[str, int]) -> tuple[list[str], np.ndarray]:
    unique = sorted(counts)
    return unique, np.array([counts[s] for s in unique], dtype=np.float64)


def _int_div(counts: Mapping[str, int], p: int = 1) -> float:
    unique, weights = _weights(counts)
    if not unique:
        return math.nan
    fps = morgan_fingerprints(unique)
    total = np.zeros(len(unique))
    for rows, cols, sims in _tanimoto_blocks(fps, np.ascontiguousarray(fps.T)):
        total[rows] += (sims.astype(np.float64) ** p) @ weights[cols]
    per_molecule = (total / weights.sum()) ** (1.0 / p)
    return float(1.0 - weights @ per_molecule / weights.sum())


def int_div(smiles: Iterable, p: int = 1) -> float:
    """MOSES IntDiv_p: ``1 - mean_i (mean_j T_ij^p)^(1/p)`` over all valid molecules (NaN if none)."""
    return _int_div(_counts(smiles), p)


def _snn(counts: Mapping[str, int], by_bit: np.ndarray, ref_bits: np.ndarray | None = None) -> float:
    unique, weights = _weights(counts)
    if not unique or by_bit.shape[1] == 0:
        return math.nan
    ref_bits = by_bit.sum(0, dtype=np.int32) if ref_bits is None else ref_bits
    best = _nearest_similarity(morgan_fingerprints(unique), by_bit, ref_bits)
    return float(weights @ best / weights.sum())


def snn(smiles: Iterable, reference: Sequence[str] | np.ndarray) -> float:
    """MOSES SNN: mean Tanimoto similarity of each valid molecule to its nearest neighbour in ``reference``.

    ``reference`` is a SMILES list or Morgan fingerprints ``(n, 1024)`` (:func:`morgan_fingerprints`).
    """
    if not isinstance(reference, np.ndarray):
        reference = morgan_fingerprints(_valid_canonical(reference))
    return _snn(_counts(smiles), np.ascontiguousarray(reference.T))


# ------------------------------------------------------------------ fragments and scaffolds
def _fragments(smiles: str) -> list[str]:
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(to_mol(smiles))).split(".")


def _scaffold(smiles: str, min_rings: int) -> str | None:
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(to_mol(smiles))
        text = Chem.MolToSmiles(scaffold)
    except (ValueError, RuntimeError):
        return None
    if not text or rdMolDescriptors.CalcNumRings(scaffold) < min_rings:
        return None
    return text


def _weighted(counts: Mapping[str, int], keys_of) -> Counter[str]:
    out: Counter[str] = Counter()
    for s, n in counts.items():
        for key in keys_of(s):
            out[key] += n
    return out


def fragment_counts(smiles: Iterable | Mapping[str, int]) -> Counter[str]:
    """BRICS fragment SMILES (with attachment points) of the valid molecules, counted (MOSES Frag)."""
    counts = smiles if isinstance(smiles, Mapping) else _counts(smiles)
    return _weighted(counts, _fragments)


def scaffold_counts(smiles: Iterable | Mapping[str, int], min_rings: int = 2) -> Counter[str]:
    """Bemis-Murcko scaffolds with ``min_rings`` or more rings of the valid molecules, counted (MOSES Scaf)."""
    counts = smiles if isinstance(smiles, Mapping) else _counts(smiles)
    return _weighted(counts, lambda s: [k] if (k := _scaffold(s, min_rings)) else [])


def cosine_similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse count vectors (NaN if either is empty)."""
    if not a or not b:
        return math.nan
    dot = sum(float(v) * float(b[k]) for k, v in a.items() if k in b)
    norm_a = math.sqrt(sum(float(v) ** 2 for v in a.values()))
    norm_b = math.sqrt(sum(float(v) ** 2 for v in b.values()))
    return dot / (norm_a * norm_b)


def frag_similarity(smiles: Iterable, reference: Iterable | Mapping[str, int]) -> float:
    """MOSES Frag: cosine similarity of BRICS fragment counts; ``reference`` is SMILES or fragment counts."""
    ref = reference if isinstance(reference, Mapping) else fragment_counts(reference)
    return cosine_similarity(fragment_counts(smiles), ref)


def scaf_similarity(smiles: Iterable, reference: Iterable | Mapping[str, int]) -> float:
    """MOSES Scaf: cosine similarity of scaffold counts; ``reference`` is SMILES or scaffold counts."""
    ref = reference if isinstance(reference, Mapping) else scaffold_counts(reference)
    return cosine_similarity(scaffold_counts(smiles), ref)


# ------------------------------------------------------------------ MOSES filters
def _moses_metrics_dir():
    from svdd_ray.chem.data import package_data_dir

    return package_data_dir("moses", "metrics", "install the MOSES data with `pip install --no-deps molsets`")


@lru_cache(maxsize=1)
def filter_patterns() -> tuple[Chem.Mol, ...]:
    """The SMARTS MOSES filters with: MCF (``mcf.csv``) and PAINS (``wehi_pains.csv``) from the molsets wheel."""
    folder = _moses_metrics_dir()
    with open(folder / "mcf.csv", newline="") as handle:
        smarts = [row["smarts"].strip() for row in csv.DictReader(handle)]
    with open(folder / "wehi_pains.csv", newline="") as handle:
        smarts += [row[0].strip() for row in csv.reader(handle) if row]
    patterns = tuple(Chem.MolFromSmarts(s) for s in smarts)
    if any(p is None for p in patterns):
        raise ValueError("a MOSES filter SMARTS does not parse")
    return patterns


def passes_filters(smiles: str) -> bool:
    """MOSES' filter: valid, no ring of 8 or more atoms, no charged atom, only C N S O F Cl Br H,
    no MCF or PAINS match (on the molecule with explicit hydrogens) and a SMILES that parses again."""
    mol = to_mol(smiles)
    if mol is None:
        return False
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(atom.GetSymbol() not in ALLOWED_ATOMS for atom in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(pattern) for pattern in filter_patterns()):
        return False
    text = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(text) and Chem.MolFromSmiles(text) is not None


def _filters(counts: Mapping[str, int]) -> float:
    unique, weights = _weights(counts)
    if not unique:
        return math.nan
    return float(weights @ np.array([passes_filters(s) for s in unique], dtype=float) / weights.sum())


def filters(smiles: Iterable) -> float:
    """MOSES Filters: fraction of the valid molecules (duplicates count) that pass :func:`passes_filters`."""
    return _filters(_counts(smiles))


def ring_fractions(smiles: Iterable | Mapping[str, int]) -> dict[str, float]:
    """``aromatic`` and ``macrocycle`` (ring of more than 8 atoms) shares of the valid molecules (duplicates count)."""
    unique, weights = _weights(smiles if isinstance(smiles, Mapping) else _counts(smiles))
    if not unique:
        return {"aromatic": math.nan, "macrocycle": math.nan}
    flags = np.zeros((len(unique), 2))
    for row, text in enumerate(unique):
        mol = to_mol(text)
        rings = mol.GetRingInfo().AtomRings()
        flags[row, 0] = any(all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring) for ring in rings)
        flags[row, 1] = any(len(ring) > 8 for ring in rings)
    share = weights @ flags / weights.sum()
    return {"aromatic": float(share[0]), "macrocycle": float(share[1])}


# ------------------------------------------------------------------ property distances
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


# ------------------------------------------------------------------ the MOSES train set
def _hash(smiles: str) -> int:
    return int.from_bytes(hashlib.blake2b(smiles.encode(), digest_size=8).digest(), "little")


def smiles_hashes(smiles: Iterable[str]) -> np.ndarray:
    """8-byte BLAKE2b hashes of SMILES strings, as ``uint64``."""
    return np.fromiter((_hash(s) for s in smiles), dtype=np.uint64)


class SmilesKeys:
    """A set of SMILES strings held as sorted 8-byte hashes (12.7 MB for MOSES train; collisions ~1e-13)."""

    def __init__(self, hashes: np.ndarray):
        hashes = np.asarray(hashes, dtype=np.uint64)
        self.hashes = hashes if bool(np.all(hashes[1:] > hashes[:-1])) else np.unique(hashes)

    @classmethod
    def from_smiles(cls, smiles: Iterable[str]) -> SmilesKeys:
        return cls(smiles_hashes(smiles))

    def add(self, smiles: Iterable[str]) -> SmilesKeys:
        """A copy with ``smiles`` added (cheap for a few strings)."""
        extra = np.unique(smiles_hashes(smiles))
        extra = extra[~self._has(extra)]
        return SmilesKeys(np.insert(self.hashes, np.searchsorted(self.hashes, extra), extra))

    def _has(self, query: np.ndarray) -> np.ndarray:
        if not len(self.hashes):
            return np.zeros(len(query), dtype=bool)
        pos = np.searchsorted(self.hashes, query)
        pos[pos == len(self.hashes)] = 0
        return self.hashes[pos] == query

    def contains(self, smiles: Sequence[str]) -> np.ndarray:
        """Boolean array: which strings are in the set."""
        return self._has(smiles_hashes(smiles))

    def __contains__(self, smiles: object) -> bool:
        return isinstance(smiles, str) and bool(self.contains([smiles])[0])

    def __len__(self) -> int:
        return len(self.hashes)


def _read_split(split: str, limit: int | None = None) -> list[str]:
    """The SMILES column of a MOSES split (the first ``limit`` rows), read without pandas (~0.6 s for train)."""
    from svdd_ray.chem.data import moses_split_path

    with gzip.open(moses_split_path(split), "rt") as handle:
        if limit is None:
            lines = handle.read().splitlines()
        else:
            lines = [line.rstrip("\n") for line in itertools.islice(handle, limit + 1)]
    header = lines[0].split(",")
    column = header.index("SMILES") if "SMILES" in header else 0
    return [line.split(",")[column] for line in lines[1:] if line]


def noncanonical_smiles(smiles: Iterable[str]) -> list[str]:
    """The strings that are not their own canonical SMILES under the installed RDKit (slow on 1.6 M)."""
    return [s for s in smiles if canonical_key(s) != s]


def moses_train_keys(cache: bool = True, check: int = 2000, seed: int = 0) -> SmilesKeys:
    """Canonical SMILES (installed RDKit) of the MOSES train set as :class:`SmilesKeys`, in seconds.

    MOSES train strings are RDKit canonical SMILES: with RDKit 2026.09.1 all but 276 of 1,584,663
    round-trip unchanged (``svdd_ray/chem/_moses_noncanonical.py`` lists those). The keys are the raw
    strings (hashes cached under :func:`~svdd_ray.chem.data.cache_dir`) plus the canonical forms of the
    listed ones. ``check`` random train strings are canonicalised on each load: should one outside the
    list change (another RDKit canonicalises differently), this falls back to canonicalising the whole
    set once (:func:`moses_train_canonical`, minutes, cached). The check reads the first ``check`` rows when
    the hashes come from the cache (the file is in random order), a random sample when they are built.
    """
    from rdkit import rdBase

    from svdd_ray.chem._moses_noncanonical import NONCANONICAL_TRAIN
    from svdd_ray.chem.data import cache_dir, moses_split_path

    listed = set(NONCANONICAL_TRAIN)
    path = cache_dir() / f"moses_train_hashes_{moses_split_path('train').stat().st_size}.npy"
    raw: list[str] | None = None
    if cache and path.is_file():
        hashes = np.load(path)
    else:
        if cache:  # the first report on a molecule run waits for this; say why
            print(f"building the MOSES reference cache once (5-20 s) at {path}", file=sys.stderr, flush=True)
        raw = _read_split("train")
        hashes = np.unique(smiles_hashes(raw))
        if cache:
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, hashes)
            tmp.replace(path)
    if check:
        sample = random.Random(seed).sample(raw, min(check, len(raw))) if raw else _read_split("train", check)
        changed = [s for s in noncanonical_smiles(sample) if s not in listed]
        if changed:
            warnings.warn(
                f"RDKit {rdBase.rdkitVersion} canonicalises {len(changed)} of {len(sample)} sampled MOSES train "
                f"SMILES differently (e.g. {changed[0]!r}); canonicalising the whole train set (minutes, cached)",
                stacklevel=2,
            )
            return SmilesKeys.from_smiles(moses_train_canonical(cache=cache))
    return SmilesKeys(hashes).add(k for k in (canonical_key(s) for s in NONCANONICAL_TRAIN) if k)


def moses_train_canonical(cache: bool = True, progress=None) -> frozenset[str]:
    """Canonical SMILES (installed RDKit) of the MOSES train set, cached on disk.

    The first call canonicalises 1.58 M molecules (~4 min on one core); :func:`moses_train_keys` is the fast way.
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


# ------------------------------------------------------------------ the MOSES test set
@dataclass(frozen=True)
class MosesTestStats:
    """Reference statistics of a MOSES test split: ChemNet (FCD), fingerprints (SNN), fragments, scaffolds."""

    fcd: FCDStats
    fingerprints_by_bit: np.ndarray  # (1024, molecules) uint8: Morgan radius 2, one row per bit
    bit_counts: np.ndarray  # on-bits per molecule
    fragments: Counter
    scaffolds: Counter


def moses_test_stats(split: str = "test") -> MosesTestStats:
    """The statistics MOSES ships for ``test`` or ``test_scaffolds`` (``<split>_stats.npz`` in molsets; ~1 s).

    They were computed by MOSES with an older RDKit; with RDKit 2026.09.1 the fragment and scaffold
    counts of the test set agree except for 6 keys each (cosine 1 - 2e-10 and 1 - 8e-7), and Morgan
    fingerprints differ for about 1 molecule in 3,500 (aromaticity of a few fused ring systems). The
    ChemNet statistics agree with :func:`~svdd_ray.chem.fcd.fcd_stats` of the whole test set
    (FCD between the two: 7e-6).
    """
    if split not in ("test", "test_scaffolds"):
        raise ValueError(f"MOSES ships statistics for 'test' and 'test_scaffolds', not {split!r}")
    return _load_test_stats(split)


@lru_cache(maxsize=2)
def _load_test_stats(split: str) -> MosesTestStats:
    from svdd_ray.chem.data import moses_data_dir

    # a pickled dict inside the installed molsets package
    with np.load(moses_data_dir() / f"{split}_stats.npz", allow_pickle=True) as data:
        stats = data["stats"].item()
    fps = np.asarray(stats["SNN"]["fps"], dtype=np.uint8)
    by_bit = np.empty(fps.shape[::-1], dtype=np.uint8)
    for start in range(0, len(fps), 256):  # transposing in blocks is ~8x faster than in one go
        by_bit[:, start : start + 256] = fps[start : start + 256].T
    fcd = FCDStats(np.asarray(stats["FCD"]["mu"]), np.asarray(stats["FCD"]["sigma"]), by_bit.shape[1])
    bits = by_bit.sum(0, dtype=np.int32)
    return MosesTestStats(fcd, by_bit, bits, Counter(stats["Frag"]["frag"]), Counter(stats["Scaf"]["scaf"]))


class MosesReference:
    """What molecule metrics compare against, each part loaded on first use.

    ``train``: :func:`moses_train_keys` (novelty); ``test``: :func:`moses_test_stats` (FCD, SNN, Frag, Scaf).
    """

    def __init__(self, split: str = "test"):
        self.split = split
        self._train: SmilesKeys | None = None

    @property
    def train(self) -> SmilesKeys:
        if self._train is None:
            self._train = moses_train_keys()
        return self._train

    @property
    def test(self) -> MosesTestStats:
        return moses_test_stats(self.split)

    def __repr__(self) -> str:
        return f"MosesReference(split={self.split!r})"


# ------------------------------------------------------------------ everything at once
def evaluate(
    smiles: Sequence,
    train: Iterable[str] | SmilesKeys | None = None,
    reference: Sequence[str] | dict[str, np.ndarray] | None = None,
    diversity_molecules: int = 2000,
    seed: int = 0,
    test: MosesTestStats | None = None,
    fcd: bool = True,
    device: str = "cpu",
) -> dict[str, float]:
    """All metrics in one dict.

    Always: ``n``, ``validity``, ``uniqueness``, ``internal_diversity``, ``IntDiv``, ``IntDiv2``, ``Filters``,
    ``aromatic``, ``macrocycle``.
    ``train`` adds ``novelty``; ``reference`` (SMILES or :func:`property_values`) the ``w1_*`` distances;
    ``test`` (:func:`moses_test_stats`) ``FCD/Test`` (unless ``fcd`` is False; ChemNet on ``device``),
    ``SNN/Test``, ``Frag/Test`` and ``Scaf/Test``.
    """
    counts = _counts(smiles)
    valid = sum(counts.values())
    out = {
        "n": float(len(smiles)),
        "validity": validity(smiles),
        "uniqueness": len(counts) / valid if valid else math.nan,
        "internal_diversity": internal_diversity(smiles, max_molecules=diversity_molecules, seed=seed),
        "IntDiv": _int_div(counts, 1),
        "IntDiv2": _int_div(counts, 2),
        "Filters": _filters(counts),
        **ring_fractions(counts),
    }
    if train is not None:
        out["novelty"] = novelty(list(counts), train)
    if reference is not None:
        for name, value in property_distances(smiles, reference).items():
            out[f"w1_{name}"] = value
    if test is not None:
        if fcd:
            out["FCD/Test"] = _fcd_or_nan(counts, test.fcd, device)
        out["SNN/Test"] = _snn(counts, test.fingerprints_by_bit, test.bit_counts)
        out["Frag/Test"] = cosine_similarity(fragment_counts(counts), test.fragments)
        out["Scaf/Test"] = cosine_similarity(scaffold_counts(counts), test.scaffolds)
    return out


def _fcd_or_nan(counts: Mapping[str, int], reference: FCDStats, device: str) -> float:
    from svdd_ray.chem import fcd as fcd_module

    try:
        return fcd_module.fcd(counts, reference, device=device)
    except ModuleNotFoundError as err:
        warnings.warn(f"FCD skipped: {err}", stacklevel=3)
        return math.nan

"""JASPAR motif PWMs, vectorised two-strand scanning, and the ``LiverMotifs`` reward.

Motif data: the JASPAR CORE collection, vertebrates, the latest version of each matrix
(JASPAR 2026 as bundled by ``pyjaspar==4.0.0``), stored in ``jaspar_vertebrates.npz`` next to this
module: matrix IDs, names, count matrices (``[K, 4, 33]``, zero-padded) and widths. JASPAR is
released under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); please cite
Rauluseviciute et al., "JASPAR 2024: 20th anniversary of the open-access database of
transcription factor binding profiles", NAR 52:D174 (2024), and the JASPAR 2026 update.
The file is regenerated, once, with ``python -m svdd_ray.dna.motifs --extract`` where ``pyjaspar``
is installed (it reads pyjaspar's bundled SQLite release with the standard library; runtime code
never imports pyjaspar).

Scoring conventions (fixed here, used everywhere):

* Position weight matrix: column frequencies ``f`` get a pseudocount of 0.1 spread over the
  uniform background ``b = 0.25`` (``p = (f + 0.1 b) / 1.1``, the FIMO default) and the log-odds
  is ``log2(p / b)`` in bits. A window's score is the sum over its columns.
* Scan: the best score of a sequence over every full window (no window runs off either end) on
  both strands (the reverse-complemented PWM is scanned too).
* Hit: best score >= the motif's threshold, the score at p-value 1e-4 under the uniform i.i.d.
  background, computed exactly by dynamic programming over the score distribution with each
  column's log-odds rounded to a 0.01-bit grid. Short motifs whose best k-mer is more common than
  1e-4 (width <= 6 or so) use their maximum score instead: only a best-possible match hits.
* Relative score: ``(score - min) / (max - min)`` with the motif's attainable min and max, in 0..1.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdd_ray.dna.data import SEQ_LEN, encode

__all__ = [
    "BACKGROUND",
    "LIVER_MOTIFS",
    "MOTIF_FILE",
    "P_VALUE",
    "PSEUDOCOUNT",
    "LiverMotifs",
    "MotifSet",
    "extract",
    "hit_matrix",
    "load_motifs",
    "motif_frequencies",
    "motif_spearman",
    "relative_scores",
    "scan",
]

MOTIF_FILE = Path(__file__).with_name("jaspar_vertebrates.npz")
#: The release ``--extract`` reads: the latest one bundled with pyjaspar 4.0.0.
DEFAULT_RELEASE = "JASPAR2026"
#: Total pseudocount added to each column's frequencies, spread by the background.
PSEUDOCOUNT = 0.1
#: Uniform background probability of each base.
BACKGROUND = 0.25
#: A hit scores at least the score whose upper-tail p-value under the background is ``P_VALUE``.
P_VALUE = 1e-4
#: Grid (bits) the per-column log-odds are rounded to for the exact p-value computation.
SCORE_STEP = 0.01
#: Tolerance (bits) for comparing float32 scan scores with float64 thresholds.
_ATOL = 1e-4
#: Liver transcription factors (HepG2 design target) and their JASPAR base IDs.
LIVER_MOTIFS = {"HNF4A": "MA0114", "HNF1A": "MA0046", "CEBPA": "MA0102", "FOXA2": "MA0047"}
#: Scan buckets motifs by width at these upper edges (and the rest) to convolve less padding.
_WIDTH_BUCKETS = (8, 11, 15, 21)
#: Bytes of scores one scan chunk may hold.
_CHUNK_BYTES = 4 << 20


@dataclass(frozen=True, eq=False)
class MotifSet:
    """``K`` motifs as log-odds PWMs (bits), left-aligned and zero-padded to the widest.

    ``pwms`` ``[K, 4, W]`` float32 (rows A, C, G, T), ``widths`` ``[K]``, per-motif ``thresholds``
    (hit rule above), ``min_scores`` / ``max_scores`` (attainable window scores).
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    pwms: np.ndarray
    widths: np.ndarray
    thresholds: np.ndarray
    min_scores: np.ndarray
    max_scores: np.ndarray
    release: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_counts(
        cls,
        ids: Sequence[str],
        names: Sequence[str],
        counts: np.ndarray,
        widths: Sequence[int] | np.ndarray,
        release: str = "",
        pseudocount: float = PSEUDOCOUNT,
        p_value: float = P_VALUE,
    ) -> MotifSet:
        """Build PWMs and thresholds from count (or frequency) matrices ``[K, 4, W]``."""
        counts = np.asarray(counts, dtype=np.float64)
        widths = np.asarray(widths, dtype=np.int64)
        if counts.ndim != 3 or counts.shape[1] != 4 or not len(counts) == len(widths) == len(ids):
            raise ValueError(f"motif counts: expected [K, 4, W] for {len(ids)} motifs, got {list(counts.shape)}")
        if len(widths) and (widths.min() < 1 or widths.max() > counts.shape[2]):
            raise ValueError(f"motif widths must be 1..{counts.shape[2]}, got {widths.min()}..{widths.max()}")
        total = counts.sum(axis=1, keepdims=True)
        freqs = np.divide(counts, total, out=np.full_like(counts, BACKGROUND), where=total > 0)
        probs = (freqs + pseudocount * BACKGROUND) / (1.0 + pseudocount)
        pwms = np.log2(probs / BACKGROUND)
        inside = np.arange(counts.shape[2])[None, :] < widths[:, None]
        pwms = np.where(inside[:, None, :], pwms, 0.0)
        max_scores = pwms.max(axis=1).sum(axis=1)
        thresholds = np.array([_threshold(pwm[:, :w], p_value) for pwm, w in zip(pwms, widths)], dtype=np.float64)
        return cls(
            ids=tuple(ids),
            names=tuple(names),
            pwms=pwms.astype(np.float32),
            widths=widths,
            thresholds=np.minimum(thresholds, max_scores),
            min_scores=pwms.min(axis=1).sum(axis=1),
            max_scores=max_scores,
            release=release,
        )

    @functools.cached_property
    def _groups(self) -> list[tuple[np.ndarray, int, object]]:
        """Motifs bucketed by width (less zero padding to convolve): ``(rows, width, weights)``.

        ``weights`` ``[2k, 4, width]``: the bucket's PWMs, then their reverse complements, left-aligned.
        """
        import torch

        columns = np.arange(self.pwms.shape[2])[None, :]
        flipped = np.where(columns < self.widths[:, None], self.widths[:, None] - 1 - columns, columns)
        rc = np.take_along_axis(self.pwms[:, ::-1, :], flipped[:, None, :].repeat(4, axis=1), axis=2)
        groups, low = [], 0
        for high in (*_WIDTH_BUCKETS, max(int(self.widths.max(initial=0)), _WIDTH_BUCKETS[-1])):
            rows = np.flatnonzero((self.widths > low) & (self.widths <= high))
            if len(rows):
                width = int(self.widths[rows].max())
                both = np.concatenate([self.pwms[rows, :, :width], rc[rows, :, :width]])
                groups.append((rows, width, torch.from_numpy(np.ascontiguousarray(both, dtype=np.float32))))
            low = high
        return groups


def _threshold(pwm: np.ndarray, p_value: float) -> float:
    """Score at upper-tail p-value ``p_value`` of one ``[4, w]`` PWM under the uniform background.

    Exact over the 0.01-bit rounded column scores (dynamic programming over the score
    distribution); ``inf`` when even the best score is more likely than ``p_value``.
    """
    grid = np.rint(pwm / SCORE_STEP).astype(np.int64)
    lows = grid.min(axis=0)
    shifted = grid - lows
    dist = np.ones(1)
    for column in shifted.T:
        new = np.zeros(len(dist) + column.max())
        for shift in column:
            new[shift : shift + len(dist)] += BACKGROUND * dist
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]  # tail[i] = P(score >= i)
    reachable = np.flatnonzero(tail <= p_value * (1 + 1e-9))
    return (int(reachable[0]) + int(lows.sum())) * SCORE_STEP if len(reachable) else np.inf


@functools.lru_cache(maxsize=1)
def _stored(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_motifs(ids: list[str] | None = None, path: str | Path | None = None) -> MotifSet:
    """All shipped JASPAR CORE vertebrate motifs, or those with the given IDs, in the given order.

    IDs match on the base ID (``"MA0114"``, ``"MA0114.4"`` and ``"MA0114.5"`` all give the shipped
    latest version); an unknown ID raises ``ValueError`` naming it.
    """
    if ids is None:
        return _all_motifs(str(path or MOTIF_FILE))
    data = _stored(str(path or MOTIF_FILE))
    index = {str(full).split(".")[0].upper(): i for i, full in enumerate(data["ids"])}
    if isinstance(ids, str):
        ids = [ids]
    rows = []
    for motif_id in ids:
        base = str(motif_id).strip().split(".")[0].upper()
        if base not in index:
            raise ValueError(
                f"unknown JASPAR motif ID {motif_id!r}: not among the {len(index)} CORE vertebrate matrices "
                f"of {data['release']}"
            )
        rows.append(index[base])
    return _motif_set(data, rows)


@functools.lru_cache(maxsize=2)
def _all_motifs(path: str) -> MotifSet:
    data = _stored(path)
    return _motif_set(data, list(range(len(data["ids"]))))


def _motif_set(data: dict[str, np.ndarray], rows: list[int]) -> MotifSet:
    widths = data["widths"][rows].astype(np.int64)
    width = int(widths.max()) if len(rows) else 1
    return MotifSet.from_counts(
        ids=[str(x) for x in data["ids"][rows]],
        names=[str(x) for x in data["names"][rows]],
        counts=data["counts"][rows, :, :width],
        widths=widths,
        release=str(data["release"]),
    )


def _as_tokens(tokens) -> np.ndarray:
    """Tokens ``[n, L]`` / ``[L]`` (numpy or torch) or ACGT strings -> ``[n, L]`` int64 tokens."""
    if isinstance(tokens, str) or (isinstance(tokens, (list, tuple)) and tokens and isinstance(tokens[0], str)):
        return encode(list(tokens) if not isinstance(tokens, str) else tokens, length=None).astype(np.int64)
    array = np.asarray(tokens.cpu() if hasattr(tokens, "cpu") else tokens)
    if array.size == 0:
        return np.zeros((0, 0), dtype=np.int64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"DNA tokens: expected [n, L], got shape {list(array.shape)}")
    if array.size and (array.min() < 0 or array.max() > 3):
        raise ValueError("DNA tokens must be 0..3 (A, C, G, T)")
    return array.astype(np.int64)


def scan(tokens, motifs: MotifSet | None = None) -> np.ndarray:
    """Best log-odds score (bits) ``[n, K]`` per sequence and motif, over full windows on both strands.

    ``tokens``: ``[n, L]`` tokens (numpy or torch) or a list of ACGT strings. A motif longer than
    the sequence has no window and scores ``-inf``. Runs a torch ``conv1d`` in chunks of rows.
    """
    import torch

    motifs = load_motifs() if motifs is None else motifs
    tokens = _as_tokens(tokens)
    n, length = tokens.shape
    out = np.full((n, len(motifs)), -np.inf, dtype=np.float32)
    if n == 0 or len(motifs) == 0 or length == 0:
        return out
    codes = torch.from_numpy(tokens)
    with torch.inference_mode():
        for rows, width, weights in motifs._groups:
            if width > length:  # only the motifs that fit have a full window
                fits = motifs.widths[rows] <= length
                if not fits.any():
                    continue
                rows, weights = rows[fits], weights[torch.from_numpy(np.concatenate([fits, fits]))]
                width = int(motifs.widths[rows].max())
                weights = weights[:, :, :width]
            out[:, rows] = _scan_group(codes, motifs.widths[rows], weights)
    return out


def _scan_group(codes, widths: np.ndarray, weights) -> np.ndarray:
    """Best two-strand scores ``[n, k]`` of ``k`` motifs of widths <= ``weights.shape[2]`` <= ``L``."""
    import torch

    n, length = codes.shape
    k, width = len(widths), weights.shape[2]
    # Windows starting at p <= L - width are full for every motif here; the last width - 1 starts
    # are scored on the zero-padded tail and kept only where p <= L - w_k.
    tail_start = length - width + 1
    last = torch.from_numpy(np.tile(length - widths, 2))
    invalid = torch.arange(tail_start, length)[None, :] > last[:, None]  # [2k, width - 1]
    out = np.empty((n, k), dtype=np.float32)
    rows = max(1, _CHUNK_BYTES // (2 * k * length * 4))  # small chunks: the output stays in cache
    for start in range(0, n, rows):
        x = torch.nn.functional.one_hot(codes[start : start + rows], 4).transpose(1, 2).float()
        best = torch.nn.functional.conv1d(x, weights).amax(dim=2)
        if width > 1:
            tail = torch.nn.functional.pad(x[:, :, tail_start:], (0, width - 1))
            tail_scores = torch.nn.functional.conv1d(tail, weights).masked_fill_(invalid, -torch.inf)
            best = torch.maximum(best, tail_scores.amax(dim=2))
        out[start : start + rows] = torch.maximum(best[:, :k], best[:, k:]).numpy()
    return out


def relative_scores(scores: np.ndarray, motifs: MotifSet) -> np.ndarray:
    """Scan scores ``[n, K]`` -> ``(score - min) / (max - min)`` in 0..1 (``-inf`` -> 0)."""
    rel = (np.asarray(scores, dtype=np.float64) - motifs.min_scores) / (motifs.max_scores - motifs.min_scores)
    return np.clip(np.nan_to_num(rel, neginf=0.0), 0.0, 1.0)


def hit_matrix(tokens, motifs: MotifSet | None = None) -> np.ndarray:
    """``[n, K]`` bool: the sequence's best score reaches the motif's p = 1e-4 threshold."""
    motifs = load_motifs() if motifs is None else motifs
    return scan(tokens, motifs) >= motifs.thresholds - _ATOL


def motif_frequencies(tokens, motifs: MotifSet | None = None) -> np.ndarray:
    """``[K]``: the fraction of sequences with a hit of each motif."""
    hits = hit_matrix(tokens, motifs)
    return hits.mean(axis=0) if len(hits) else np.zeros(hits.shape[1])


def motif_spearman(tokens_a, tokens_b, motifs: MotifSet | None = None) -> float:
    """Spearman correlation of two sequence sets' motif-frequency vectors (all vertebrate motifs).

    The "JASPAR motif-frequency Spearman correlation" of DNA design papers; NaN when one vector
    is constant.
    """
    motifs = load_motifs() if motifs is None else motifs
    a = _ranks(motif_frequencies(tokens_a, motifs))
    b = _ranks(motif_frequencies(tokens_b, motifs))
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties getting their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return ((upper - (counts - 1) / 2.0)[inverse]).astype(np.float64)


class LiverMotifs:
    """Reward: how well a sequence matches the liver TF motifs HNF4A, HNF1A, CEBPA and FOXA2.

    Score = the mean over the motifs of the best relative PWM score (0..1: ``(s - min) / (max - min)``
    over every full window on both strands). 1.0 means every motif's consensus is present;
    i.i.d. random 200-bp sequences average about 0.76, HepG2 DNase sites 0.80, other cell types'
    0.75-0.76. Not differentiable; :meth:`hits` counts the motifs at the p = 1e-4 hit threshold.

    ``motifs``: JASPAR IDs (``"MA0114"``) or names from :data:`LIVER_MOTIFS` (default: all four).
    ``length``: required sequence length. Sequences are ACGT strings, upper or lower case.
    """

    #: the objects it scores (a model of another domain is refused when the config loads)
    reads = "dna"

    def __init__(self, motifs: list[str] | None = None, length: int = SEQ_LEN):
        chosen = list(LIVER_MOTIFS.values()) if motifs is None else list(motifs)
        if not chosen:
            raise ValueError("liver_motifs: options.motifs is empty")
        self.motifs = load_motifs([LIVER_MOTIFS.get(str(m).upper(), m) for m in chosen])
        self.length = int(length)

    def _tokens(self, sequences: list[str]) -> np.ndarray:
        if isinstance(sequences, str):
            raise ValueError("liver_motifs: expected a list of sequences, got one string")
        return encode(list(sequences), length=self.length, field="liver_motifs sequences")

    def __call__(self, sequences: list[str]) -> list[float]:
        """One score in 0..1 per sequence (mean best relative score of the motifs)."""
        scores = scan(self._tokens(sequences), self.motifs)
        return relative_scores(scores, self.motifs).mean(axis=1).tolist()

    def hits(self, sequences: list[str]) -> np.ndarray:
        """``[n]`` int: how many of the motifs hit (p = 1e-4 threshold) each sequence."""
        return hit_matrix(self._tokens(sequences), self.motifs).sum(axis=1)

    def canonical_key(self, seq: str) -> str:
        """Cache key: the upper-case sequence."""
        return seq.upper() if isinstance(seq, str) else str(seq)


def extract(release: str = DEFAULT_RELEASE, out: str | Path = MOTIF_FILE, sqlite: str | Path | None = None) -> Path:
    """Write the CORE vertebrate matrices (latest version of each) of a JASPAR release to ``out``.

    Reads the SQLite file that ``pyjaspar`` bundles (``sqlite`` overrides it); a matrix is kept when
    the latest version of its base ID is in the CORE collection with tax group ``vertebrates``.
    """
    if sqlite is None:
        spec = importlib.util.find_spec("pyjaspar")  # locates the package without importing it (needs Biopython)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("--extract needs pyjaspar: pip install pyjaspar==4.0.0")
        sqlite = Path(spec.submodule_search_locations[0]) / "data" / f"{release}.sqlite"
    if not Path(sqlite).is_file():
        raise SystemExit(f"--extract: no JASPAR database {sqlite}")
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            """
            SELECT m.ID, m.BASE_ID, m.VERSION, m.NAME FROM MATRIX m
            JOIN MATRIX_ANNOTATION a ON a.ID = m.ID AND a.TAG = 'tax_group' AND a.VAL = 'vertebrates'
            WHERE m.COLLECTION = 'CORE'
              AND m.VERSION = (SELECT MAX(VERSION) FROM MATRIX WHERE BASE_ID = m.BASE_ID)
            ORDER BY m.BASE_ID
            """
        ).fetchall()
        matrices = []
        for internal, *_ in rows:
            cells = conn.execute("SELECT row, col, val FROM MATRIX_DATA WHERE ID = ?", (internal,)).fetchall()
            width = max(col for _, col, _ in cells)
            counts = np.zeros((4, width))
            for base, col, val in cells:
                counts["ACGT".index(base.upper()), col - 1] = val
            matrices.append(counts)
    widths = np.array([m.shape[1] for m in matrices], dtype=np.int16)
    padded = np.zeros((len(matrices), 4, int(widths.max())), dtype=np.float32)
    for i, m in enumerate(matrices):
        padded[i, :, : m.shape[1]] = m
    out = Path(out)
    np.savez_compressed(
        out,
        release=np.array(release),
        ids=np.array([f"{base}.{version}" for _, base, version, _ in rows]),
        names=np.array([name for *_, name in rows]),
        counts=padded,
        widths=widths,
        license=np.array("JASPAR (https://jaspar.elixir.no), CC BY 4.0"),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m svdd_ray.dna.motifs", description=__doc__.splitlines()[0])
    parser.add_argument("--extract", action="store_true", help="write the motif file from pyjaspar's database")
    parser.add_argument("--release", default=DEFAULT_RELEASE, help=f"JASPAR release (default {DEFAULT_RELEASE})")
    parser.add_argument("--sqlite", default=None, help="a JASPAR SQLite file instead of pyjaspar's")
    parser.add_argument("--out", default=str(MOTIF_FILE), help="output .npz")
    args = parser.parse_args(argv)
    if not args.extract:
        parser.print_help()
        return 0
    path = extract(args.release, args.out, args.sqlite)
    motifs = load_motifs(path=path)
    print(f"{path}: {len(motifs)} motifs of {motifs.release}, {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

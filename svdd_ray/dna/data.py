"""DNase-hypersensitive sites of four cell types, 200 bp each, from the ``dnadiffusion`` wheel.

The wheel (``pip install --no-deps dnadiffusion==0.0.0.dev0``, MIT) ships
``dnadiffusion/data/K562_hESCT0_HepG2_GM12878_12k_sequences_per_group.txt``: 47,872 sites
(hg38, 200 bp around the peak summit), about 12k specific to each of HepG2 (liver), K562,
GM12878 and hESC. Its ``data_label`` column is kept as given: ``training`` (every chromosome but
1 and 2), ``validation`` (all chr2) and ``test`` (all chr1). The wheel's README says the reverse
of the last two; the file is what counts here. No model trains on the test rows.

Tokens are ``A C G T`` = ``0 1 2 3`` (``uint8``); the diffusion model's mask id is 4.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdd_ray.errors import ConfigError
from svdd_ray.package_data import package_data_dir

__all__ = [
    "ALPHABET",
    "CELL_TYPES",
    "SEQ_LEN",
    "SPLITS",
    "GUIDE_CHROMOSOMES",
    "ORACLE_CHROMOSOMES",
    "Sites",
    "data_file",
    "load_sites",
    "encode",
    "decode",
    "reverse_complement",
    "one_hot",
]

ALPHABET = "ACGT"
SEQ_LEN = 200
#: Cell types in class-index order; HepG2 (liver) is the design target.
CELL_TYPES = ("HepG2", "K562", "GM12878", "hESC")
SPLITS = ("training", "validation", "test")
#: Two disjoint halves of the training chromosomes: the guidance classifier learns from the first,
#: the evaluation oracle (never used for guidance) from the second.
GUIDE_CHROMOSOMES = frozenset(f"chr{c}" for c in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, "X"))
ORACLE_CHROMOSOMES = frozenset(f"chr{c}" for c in (4, 6, 8, 10, 12, 14, 16, 18, 20, 22, "Y"))

_FILE = "K562_hESCT0_HepG2_GM12878_12k_sequences_per_group.txt"
_INSTALL = "install it with `pip install --no-deps dnadiffusion==0.0.0.dev0` (only its data file is used)"
_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _letter in enumerate(ALPHABET):
    _CODE[ord(_letter)] = _i
_COMPLEMENT = np.array([3, 2, 1, 0], dtype=np.uint8)


@dataclass(frozen=True)
class Sites:
    """Rows of the DNase-site table: ``tokens`` ``[n, 200]`` uint8, ``cell`` index into ``CELL_TYPES``."""

    tokens: np.ndarray
    cell: np.ndarray
    chromosome: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    def where(self, mask: np.ndarray) -> Sites:
        """The rows where ``mask`` is true."""
        return Sites(self.tokens[mask], self.cell[mask], self.chromosome[mask], self.split[mask])

    @property
    def sequences(self) -> list[str]:
        return decode(self.tokens)


def data_file() -> Path:
    """The site table inside the installed ``dnadiffusion`` wheel (``$SVDD_RAY_DNA_SITES`` overrides it)."""
    override = os.environ.get("SVDD_RAY_DNA_SITES")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"SVDD_RAY_DNA_SITES: no such file {path}")
        return path
    try:
        path = package_data_dir("dnadiffusion", "data", _INSTALL) / _FILE
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise ConfigError(f"DNA data: {err}") from None
    if not path.is_file():
        raise ConfigError(f"DNA data: {path} is missing; {_INSTALL}")
    return path


_CACHE: dict[Path, Sites] = {}


def load_sites(split: str | None = None, path: str | os.PathLike | None = None) -> Sites:
    """All sites, or one split (``training``, ``validation``, ``test``); the table is read once."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"DNA split: unknown split {split!r} (one of {', '.join(SPLITS)})")
    path = Path(path) if path is not None else data_file()
    if path not in _CACHE:
        _CACHE[path] = _read(path)
    sites = _CACHE[path]
    return sites if split is None else sites.where(sites.split == split)


def _read(path: Path) -> Sites:
    import pandas as pd

    columns = ["sequence", "chr", "TAG", "data_label"]
    try:
        frame = pd.read_csv(path, sep="\t", usecols=columns, dtype=str)
    except ValueError as err:
        raise ConfigError(f"{path}: not a DNase-site table with columns {columns} ({err})") from None
    cell_of = {name: i for i, name in enumerate(CELL_TYPES)}
    tags = frame["TAG"].str.split("_").str[0].str.replace("hESCT0", "hESC")
    unknown = sorted(set(tags) - set(cell_of))
    if unknown:
        raise ConfigError(f"{path}: unknown cell types in column TAG: {unknown[:3]}")
    bad_split = sorted(set(frame["data_label"]) - set(SPLITS))
    if bad_split:
        raise ConfigError(f"{path}: unknown data_label values {bad_split[:3]} (expected {', '.join(SPLITS)})")
    tokens = encode(frame["sequence"].tolist(), field=f"{path.name}: sequence")
    return Sites(
        tokens=tokens,
        cell=tags.map(cell_of).to_numpy(np.int64),
        chromosome=frame["chr"].to_numpy(str),
        split=frame["data_label"].to_numpy(str),
    )


def encode(sequences: list[str] | str, length: int | None = SEQ_LEN, field: str = "sequence") -> np.ndarray:
    """``ACGT`` strings (upper or lower case) -> ``[n, length]`` uint8 tokens.

    Raises ``ValueError`` (one line naming ``field`` and the row) for another letter or length;
    ``length=None`` takes the first sequence's length for all.
    """
    if isinstance(sequences, str):
        sequences = [sequences]
    if not sequences:
        return np.zeros((0, length or 0), dtype=np.uint8)
    length = len(sequences[0]) if length is None else length
    out = np.empty((len(sequences), length), dtype=np.uint8)
    for row, seq in enumerate(sequences):
        if not isinstance(seq, str):
            raise ValueError(f"{field}[{row}]: expected an ACGT string, got {type(seq).__name__}")
        if len(seq) != length:
            raise ValueError(f"{field}[{row}]: length {len(seq)}, expected {length}")
        codes = _CODE[np.frombuffer(seq.upper().encode("ascii", "replace"), dtype=np.uint8)]
        if (codes == 255).any():
            letter = seq[int(np.argmax(codes == 255))]
            raise ValueError(f"{field}[{row}]: letter {letter!r} is not one of A, C, G, T")
        out[row] = codes
    return out


def decode(tokens) -> list[str]:
    """``[n, L]`` tokens (numpy or torch, values 0..3) -> ``ACGT`` strings."""
    array = np.asarray(tokens.cpu() if hasattr(tokens, "cpu") else tokens)
    if array.ndim == 1:
        array = array[None]
    if array.size and (array.min() < 0 or array.max() > 3):
        raise ValueError("DNA tokens must be 0..3 (A, C, G, T); a mask or other id is left")
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)[array.astype(np.int64)]
    return [row.tobytes().decode("ascii") for row in letters]


def reverse_complement(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of ``[..., L]`` tokens (A<->T, C<->G, read backwards)."""
    return _COMPLEMENT[np.asarray(tokens)][..., ::-1].copy()


def one_hot(tokens, dtype=None):
    """``[n, L]`` tokens -> ``[n, 4, L]`` float one-hot (a torch tensor; channels A, C, G, T)."""
    import torch

    tokens = torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens).long()
    return torch.nn.functional.one_hot(tokens, 4).transpose(-1, -2).to(dtype or torch.float32)

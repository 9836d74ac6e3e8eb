"""MOSES data access without importing the ``moses`` package.

The ``molsets`` wheel (install with ``pip install --no-deps molsets``) ships
the MOSES benchmark splits as gzipped CSV files inside ``moses/dataset/data``.
Importing ``moses`` itself pulls in heavy and partly outdated dependencies, so
this module only *locates* the package with :func:`importlib.util.find_spec`
(which does not execute ``moses/__init__.py``) and reads the CSV files with
pandas.
"""

from __future__ import annotations

from pathlib import Path

from svdd_ray.package_data import cache_dir, package_data_dir

__all__ = ["SPLITS", "package_data_dir", "moses_data_dir", "moses_split_path", "load_smiles", "cache_dir"]

#: split name -> file name inside ``moses/dataset/data``
SPLITS = {
    "train": "train.csv.gz",
    "test": "test.csv.gz",
    "test_scaffolds": "test_scaffolds.csv.gz",
}


def moses_data_dir() -> Path:
    """Directory holding the MOSES CSV files of the installed ``molsets`` wheel."""
    return package_data_dir(
        "moses",
        "dataset/data",
        "install the MOSES data with `pip install --no-deps molsets` (PyPI distribution "
        "'molsets'; only its data files are used)",
    )


def moses_split_path(split: str) -> Path:
    """Path of one split's ``.csv.gz`` file (``train``, ``test``, ``test_scaffolds``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown MOSES split {split!r}; valid: {sorted(SPLITS)}")
    path = moses_data_dir() / SPLITS[split]
    if not path.is_file():
        raise FileNotFoundError(f"MOSES split file missing: {path}")
    return path


_LOADED: dict[str, tuple[str, ...]] = {}


def _read(split: str, nrows: int | None = None) -> tuple[str, ...]:
    import pandas as pd

    frame = pd.read_csv(moses_split_path(split), compression="gzip", nrows=nrows)
    column = "SMILES" if "SMILES" in frame.columns else frame.columns[0]
    return tuple(frame[column].astype(str).tolist())


def load_smiles(split: str = "train", limit: int | None = None) -> list[str]:
    """SMILES of a MOSES split, in file order (train: 1,584,663; test: 176,074).

    ``limit`` keeps the first ``limit`` molecules (read without loading the rest).
    A full split is kept in memory after its first load.
    """
    if split in _LOADED:
        smiles = _LOADED[split]
    elif limit is not None:
        return list(_read(split, nrows=int(limit)))
    else:
        smiles = _LOADED[split] = _read(split)
    if limit is not None:
        smiles = smiles[: int(limit)]
    return list(smiles)

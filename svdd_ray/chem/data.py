"""MOSES data access without importing the ``moses`` package.

The ``molsets`` wheel (install with ``pip install --no-deps molsets``) ships
the MOSES benchmark splits as gzipped CSV files inside ``moses/dataset/data``.
Importing ``moses`` itself pulls in heavy and partly outdated dependencies, so
this module only *locates* the package with :func:`importlib.util.find_spec`
(which does not execute ``moses/__init__.py``) and reads the CSV files with
pandas.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["SPLITS", "moses_data_dir", "moses_split_path", "load_smiles", "cache_dir"]

#: split name -> file name inside ``moses/dataset/data``
SPLITS = {
    "train": "train.csv.gz",
    "test": "test.csv.gz",
    "test_scaffolds": "test_scaffolds.csv.gz",
}


def moses_data_dir() -> Path:
    """Directory holding the MOSES CSV files of the installed ``molsets`` wheel.

    Raises:
        ModuleNotFoundError: ``molsets`` is not installed.
        FileNotFoundError: the package is there but its data directory is not.
    """
    try:
        spec = importlib.util.find_spec("moses")
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "MOSES data not found: the Python package 'moses' (PyPI distribution "
            "'molsets') is not installed. Install it with "
            "`pip install --no-deps molsets` (only its data files are used)."
        )
    for location in spec.submodule_search_locations:
        data_dir = Path(location) / "dataset" / "data"
        if data_dir.is_dir():
            return data_dir
    raise FileNotFoundError(
        "The 'moses' package was found at "
        f"{list(spec.submodule_search_locations)} but has no dataset/data directory "
        "with the MOSES CSV files; reinstall `molsets`."
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


def cache_dir() -> Path:
    """Local cache for derived data (encoded datasets, canonical train set).

    ``$SVDD_RAY_CACHE`` if set, else ``~/.cache/svdd_ray``. Created on demand.
    """
    root = os.environ.get("SVDD_RAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "svdd_ray")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path

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

__all__ = ["SPLITS", "package_data_dir", "moses_data_dir", "moses_split_path", "load_smiles", "cache_dir"]

#: split name -> file name inside ``moses/dataset/data``
SPLITS = {
    "train": "train.csv.gz",
    "test": "test.csv.gz",
    "test_scaffolds": "test_scaffolds.csv.gz",
}


def package_data_dir(package: str, relative: str, install_hint: str) -> Path:
    """A data directory shipped inside an installed package, found without importing it.

    Raises:
        ModuleNotFoundError: the package is not installed (the message ends with ``install_hint``).
        FileNotFoundError: the package is there but ``relative`` is not.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the Python package {package!r} is not installed; {install_hint}")
    for location in spec.submodule_search_locations:
        path = Path(location) / relative
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"the {package!r} package was found at {list(spec.submodule_search_locations)} but has no "
        f"{relative} directory; {install_hint}"
    )


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


def cache_dir() -> Path:
    """Local cache for derived data (encoded datasets, canonical train set).

    ``$SVDD_RAY_CACHE`` if set, else ``~/.cache/svdd_ray``. Created on demand.
    """
    root = os.environ.get("SVDD_RAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "svdd_ray")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path

"""Data files that ship inside installed packages, the local cache for data derived from them, checkpoints.

Nothing is downloaded at run time: each domain reads its data from a wheel (MOSES SMILES from
``molsets``, DNase sites from ``dnadiffusion``, receptors from ``dockstring``), located with
:func:`importlib.util.find_spec` so the package's own ``__init__`` (and its dependencies) never runs.
Trained weights live in ``checkpoints/<name>`` of the checkout (:func:`checkpoint_dir`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["package_data_dir", "cache_dir", "checkpoint_dir", "checkpoint_env"]

#: The committed checkpoints: ``checkpoints/`` next to the ``svdd_ray`` package.
CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


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


def cache_dir() -> Path:
    """Local cache for derived data (encoded datasets, canonical train set).

    ``$SVDD_RAY_CACHE`` if set, else ``~/.cache/svdd_ray``. Created on demand.
    """
    root = os.environ.get("SVDD_RAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "svdd_ray")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_env(name: str) -> str:
    """The environment variable that moves checkpoint directory ``name``: ``SVDD_RAY_<NAME>_CHECKPOINTS``."""
    return f"SVDD_RAY_{name.upper()}_CHECKPOINTS"


def checkpoint_dir(name: str) -> Path:
    """Where the checkpoints of ``name`` (``digits``, ``dna``, ``moses``, ``moses_smiles``) live.

    ``$SVDD_RAY_<NAME>_CHECKPOINTS`` if set and not empty, else ``checkpoints/<name>`` of this checkout.
    """
    env = os.environ.get(checkpoint_env(name))
    return Path(env) if env else CHECKPOINTS / name

"""Shared fixtures for the chem tests; everything skips cleanly without the chem extra."""

from __future__ import annotations

import importlib.util

import pytest


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


CHEM_MISSING = _missing("rdkit", "selfies", "scipy")
DOCKING_MISSING = _missing("rdkit", "vina", "meeko", "gemmi", "scipy", "dockstring")
MOSES_MISSING = _missing("moses")

# Test modules need the chem extra; without it they are not collected at all.
collect_ignore_glob = ["test_chem_*.py"] if CHEM_MISSING else []
if DOCKING_MISSING:
    collect_ignore_glob.append("test_chem_docking.py")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``moses`` need the molsets data files."""
    if MOSES_MISSING:
        skip = pytest.mark.skip(reason="molsets (MOSES data) not installed: pip install --no-deps molsets")
        for item in items:
            if "moses" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "moses: needs the MOSES data files of the molsets wheel")


@pytest.fixture(scope="session")
def moses_train_small() -> list[str]:
    if MOSES_MISSING:
        pytest.skip("molsets (MOSES data) not installed")
    from svdd_ray.chem.data import load_smiles

    return load_smiles("train", limit=3000)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep the tests' derived-data cache out of the user's ~/.cache."""
    monkeypatch.setenv("SVDD_RAY_CACHE", str(tmp_path_factory.getbasetemp() / "svdd_ray_cache"))


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Tiny models run far faster on one thread, especially on a shared machine."""

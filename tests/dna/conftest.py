"""Shared fixtures for the DNA tests: a 48-row site table, and a skip for tests that need the real wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SMALL_SITES = Path(__file__).parent / "data" / "sites_small.tsv"
WHEEL_MISSING = importlib.util.find_spec("dnadiffusion") is None


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Tiny models run far faster on one thread, especially on a shared machine."""


@pytest.fixture
def small_sites(monkeypatch):
    """Point the data loader at the 48-row fixture (4 rows per cell type and split)."""
    monkeypatch.setenv("SVDD_RAY_DNA_SITES", str(SMALL_SITES))
    return SMALL_SITES


def pytest_collection_modifyitems(config, items):
    """Tests marked ``dna_data`` read the dnadiffusion wheel's table."""
    if WHEEL_MISSING:
        skip = pytest.mark.skip(reason="dnadiffusion not installed: pip install --no-deps dnadiffusion==0.0.0.dev0")
        for item in items:
            if "dna_data" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "dna_data: needs the table of the dnadiffusion wheel")

"""Shared setup for the images tests: torch runs on one thread (the other core is CI's).

The images domain needs the ``images`` extra (scikit-learn, Pillow; diffusers for the adapter
tests, which skip on their own). Without scikit-learn or Pillow the directory is not collected,
with a warning, rather than failing the whole suite.
"""

import importlib.util
import warnings

import pytest
import torch

_missing = [name for name in ("sklearn", "PIL") if importlib.util.find_spec(name) is None]
if _missing:
    warnings.warn(f"tests/images skipped: missing {_missing}; pip install 'svdd-ray[images]'", stacklevel=1)
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

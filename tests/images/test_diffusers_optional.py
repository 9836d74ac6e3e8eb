"""diffusers is optional: the adapter module imports without it and explains what to install."""

from __future__ import annotations

import sys

import pytest
import torch


def test_clear_error_without_diffusers(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` raise ImportError
    from svdd_ray.models.diffusers_adapter import DiffusersModel

    with pytest.raises(ImportError, match=r"pip install 'svdd-ray\[images\]'"):
        DiffusersModel(torch.nn.Conv2d(1, 1, 1))

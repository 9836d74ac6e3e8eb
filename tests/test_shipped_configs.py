"""Every run config shipped in configs/ validates, and its plugins resolve."""

from pathlib import Path

import pytest

from svdd_ray.config import load_config
from svdd_ray.engine import check_plugins

CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").glob("*.yaml") if not p.name.startswith("prior_"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path):
    check_plugins(load_config(path))


def test_configs_were_found():
    assert any(p.name == "quickstart.yaml" for p in CONFIGS)

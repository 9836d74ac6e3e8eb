"""Shared fixtures: one local Ray for the whole session (starting Ray takes seconds), the jobs/ scripts."""

import importlib.util
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[1] / "jobs"


@pytest.fixture(scope="session")
def load_job():
    """Import a script of ``jobs/`` as a module: ``load_job("docking_results").main([...])``."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_job", JOBS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (tiny models run far faster so on a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

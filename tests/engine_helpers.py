"""Small configs and readers for engine tests."""

from __future__ import annotations

import pandas as pd

from svdd_ray.config import Config, RewardComponent, from_dict
from svdd_ray.report import load_run

SAMPLE_COLUMNS = ["index", "batch", "object", "reward", "invalid"]


def small_config(out, *, backend="local", method="svdd", rewards=None, value=None, **run) -> Config:
    """A quick run on the bitstrings demo: 4 batches of 6, 4 candidates, 6 steps."""
    data = {
        "run": {
            "method": method,
            "num_samples": 24,
            "batch_size": 6,
            "num_candidates": 4,
            "alpha": 0.5 if method in ("smc", "particle_gibbs") else 0.0,
            "seed": 3,
            "output_dir": str(out),
            **run,
        },
        "model": {"target": "bitstrings", "options": {"length": 8, "num_steps": 6}},
        "reward": {"components": rewards or [{"target": "ones", "num_cpus": 0.25, "chunk_size": 8}]},
        "value": value or {},
        "resources": {"backend": backend, "denoiser_num_cpus": 0.25, "max_inflight_batches": 3},
    }
    return from_dict(Config, data, "config")


def with_resources(config: Config, **resources) -> Config:
    for key, value in resources.items():
        setattr(config.resources, key, value)
    return config


def read_samples(out) -> pd.DataFrame:
    """The run's samples in index order (:func:`svdd_ray.report.load_run`)."""
    return load_run(out).samples


class CountingOnes:
    """``ones`` that counts the objects it scores, per ``label`` (local backend: rewards live in this process)."""

    scored: dict[str, int] = {}

    def __init__(self, label: str = "ones") -> None:
        self.label = label

    def __call__(self, objects: list[str]) -> list[float]:
        from svdd_ray.demo import ones

        CountingOnes.scored[self.label] = CountingOnes.scored.get(self.label, 0) + len(objects)
        return ones(objects)


def constant(objects: list[str], value: float = 5.0) -> list[float]:
    """The same score for every object."""
    return [value] * len(objects)


def component(name, **kw) -> dict:
    return {"target": name, "num_cpus": 0.25, "chunk_size": 8, **kw}


__all__ = [
    "CountingOnes",
    "RewardComponent",
    "SAMPLE_COLUMNS",
    "component",
    "constant",
    "read_samples",
    "small_config",
    "with_resources",
]

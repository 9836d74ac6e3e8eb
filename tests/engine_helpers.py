"""Small configs and readers for engine tests."""

from __future__ import annotations

import pandas as pd

from svdd_ray.config import Config, RewardComponent, from_dict

SAMPLE_COLUMNS = ["index", "batch", "object", "reward", "invalid"]


def small_config(out, *, backend="local", method="svdd", rewards=None, value=None, **run) -> Config:
    """A quick run on the bitstrings demo: 4 batches of 6, 4 candidates, 6 steps."""
    data = {
        "run": {
            "method": method,
            "num_samples": 24,
            "batch_size": 6,
            "num_candidates": 4,
            "alpha": 0.5 if method == "smc" else 0.0,
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
    return pd.read_parquet(out).sort_values("index").reset_index(drop=True)


def component(name, **kw) -> dict:
    return {"target": name, "num_cpus": 0.25, "chunk_size": 8, **kw}


__all__ = ["RewardComponent", "SAMPLE_COLUMNS", "component", "read_samples", "small_config", "with_resources"]

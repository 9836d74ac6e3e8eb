"""Helpers shared by the benchmarks: configs on the bitstrings demo and a table printer."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from svdd_ray.config import Config, from_dict
from svdd_ray.engine import start_executor
from svdd_ray.engine.executors import Executor
from svdd_ray.rewards import build_components, key_function

# Ray actors run torch on one thread; give the in-process baselines the same footing.
torch.set_num_threads(1)


def warm_executor(config: Config) -> tuple[Executor, dict]:
    """The run's executor with every actor up (the clock then measures the run, not start-up), and its cache keys."""
    rewards = build_components(config.reward.components)
    executor = start_executor(config, rewards)
    while any(getattr(pool, "probes", None) for pool in executor.pools.values()):
        executor.wait([], timeout=120)  # reward actors' readiness probes are handled inside wait
    return executor, {name: key_function(reward) for name, reward in rewards.items()}


def demo_config(
    *,
    backend: str,
    reward: dict,
    num_samples: int,
    batch_size: int,
    num_candidates: int,
    length: int,
    num_steps: int,
    inflight: int,
    denoisers: int = 1,
    cache: bool = False,
) -> Config:
    out = Path(tempfile.mkdtemp(prefix="svdd-bench-")) / "run"
    data = {
        "run": {
            "method": "svdd",
            "num_samples": num_samples,
            "batch_size": batch_size,
            "num_candidates": num_candidates,
            "seed": 0,
            "output_dir": str(out),
        },
        "model": {"target": "bitstrings", "options": {"length": length, "num_steps": num_steps}},
        "reward": {"components": [reward], "cache": cache},
        "resources": {
            "backend": backend,
            "denoiser_actors": denoisers,
            "denoiser_num_cpus": 0.1,
            "max_inflight_batches": inflight,
        },
    }
    return from_dict(Config, data, "config")


def fault_config(
    samples: int, latency: float, *, reward_actors: int, reward_cpus: float, denoiser_cpus: float, retries: int
) -> Config:
    """The fault benchmarks' job on Ray: 2 denoisers, batches of 8, M = 4, T = 8, a sleepy reward, cache on."""
    reward = {
        "target": "sleepy_ones",
        "options": {"latency_s": latency},
        "actors": reward_actors,
        "num_cpus": reward_cpus,
        "chunk_size": 8,
    }
    config = demo_config(
        backend="ray",
        reward=reward,
        num_samples=samples,
        batch_size=8,
        num_candidates=4,
        length=16,
        num_steps=8,
        inflight=4,
        denoisers=2,
        cache=True,
    )
    config.resources.denoiser_num_cpus = denoiser_cpus
    config.resources.max_retries = retries
    return config


def cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of this machine since boot, all cores (Linux ``/proc/stat``; None elsewhere)."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = 100.0  # USER_HZ
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def busy_share(before: tuple[float, float] | None, after: tuple[float, float] | None) -> float:
    """The share of the machine's CPU time that was busy between two :func:`cpu_seconds` readings (nan if unknown)."""
    if before is None or after is None or after[1] <= before[1]:
        return float("nan")
    return (after[0] - before[0]) / (after[1] - before[1])


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join([line, rule, *body])

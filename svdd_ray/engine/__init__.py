"""The distributed engine: run a configured sampling job locally or on a Ray cluster."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from svdd_ray.config import Config, ConfigError
from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.driver import Driver
from svdd_ray.engine.executors import LocalExecutor, RayExecutor
from svdd_ray.engine.output import RunOutput
from svdd_ray.engine.runner import BUILTIN_MODELS
from svdd_ray.rewards import resolve

__all__ = ["check_plugins", "connect", "run"]


def check_plugins(config: Config) -> None:
    """Resolve every named model, value network and reward now, so typos fail before any work."""
    targets = [("model.factory", BUILTIN_MODELS.get(config.model.factory, config.model.factory))]
    if config.value.kind == "mc":
        targets.append(("value.network", config.value.network))
    if config.value.guide is not None:
        targets.append(("value.guide", config.value.guide))
    targets += [(f"reward.components[{i}].name", c.name) for i, c in enumerate(config.reward.components)]
    for key, target in targets:
        try:
            resolve(target)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` / ``RAY_ADDRESS``, or start an embedded local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)


def check_resources(config: Config) -> None:
    """Fail fast when the cluster cannot hold the actors (Ray would wait for them forever)."""
    import ray

    res = config.resources
    cpus = res.denoiser_actors * res.denoiser_num_cpus + sum(c.actors * c.num_cpus for c in config.reward.components)
    gpus = res.denoiser_actors * res.denoiser_num_gpus
    have = ray.cluster_resources()
    if cpus > have.get("CPU", 0) + 1e-9:
        raise ConfigError(
            f"resources: the actors need {cpus:g} CPUs but the cluster has {have.get('CPU', 0):g}; "
            "lower resources.denoiser_num_cpus or the reward components' actors/num_cpus"
        )
    if gpus > have.get("GPU", 0) + 1e-9:
        raise ConfigError(
            f"resources.denoiser_num_gpus: the denoisers need {gpus:g} GPUs but the cluster has {have.get('GPU', 0):g}"
        )


def run(config: Config, progress: Callable[[dict], None] | None = None) -> tuple[Path, dict]:
    """Run (or resume) the job described by ``config``; return the output directory and totals."""
    check_plugins(config)
    if config.resources.backend == "ray":
        connect(config.resources.address, config.resources.num_cpus)
        check_resources(config)
    output = RunOutput(config)
    done = output.open()
    cache = RewardCache(config.reward.cache_file, enabled=config.reward.cache)
    executor = RayExecutor(config) if config.resources.backend == "ray" else LocalExecutor(config)
    try:
        totals = Driver(config, executor, output, cache, progress).run(done)
    finally:
        executor.shutdown()
        cache.close()
    output.finish(totals)
    return output.dir, totals

"""The Ray cluster a run uses: joining one, or starting an embedded local one, and checking it can hold the actors."""

from __future__ import annotations

import os

from svdd_ray.config import Config, ConfigError


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

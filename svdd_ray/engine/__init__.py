"""The distributed engine: run a configured sampling job locally or on a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from svdd_ray.config import Config
from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.cluster import check_resources, connect, release_resources, wait_for_resources
from svdd_ray.engine.driver import Driver
from svdd_ray.engine.executors import Executor, LocalExecutor, RayExecutor
from svdd_ray.engine.output import RunOutput
from svdd_ray.plugins import resolve
from svdd_ray.protocol import Reward
from svdd_ray.rewards import build_components, close_reward, key_function
from svdd_ray.surrogates import build_surrogates
from svdd_ray.values import check_fill

__all__ = ["check_plugins", "check_resources", "connect", "run"]


def check_plugins(config: Config) -> None:
    """Import every model, value network, guide, reward and the domain the config names, so typos fail first."""
    resolve("model", config.model.target, "model.target")
    resolve("domain", config.model.domain, "model.domain")
    if config.value.kind == "mc":
        resolve("value network", config.value.network.target, "value.network.target")
    if config.value.guide is not None:
        resolve("guide", config.value.guide.target, "value.guide.target")
    for i, c in enumerate(config.reward.components):
        resolve("reward", c.target, f"reward.components[{i}].target")


def start_executor(
    config: Config, rewards: dict[str, Reward], progress: Callable[[dict], None] | None = None
) -> Executor:
    """Start the executor and wait until it has built the model side; a build failure is a ConfigError.

    ``rewards`` (built in this process) score in the local executor; Ray builds its own per actor.
    On a cluster with an autoscaler that is too small right now, wait for it to grow (``waiting``
    events to ``progress``), at most ``resources.start_timeout_s``.
    """
    if config.resources.backend == "local":
        return LocalExecutor(config, rewards)
    connect(config.resources.address, config.resources.num_cpus)
    if not check_resources(config):
        try:
            wait_for_resources(config, progress)
        finally:
            release_resources()  # the pending actors keep asking the autoscaler themselves
    executor = RayExecutor(config)
    try:
        executor.ready()
    except BaseException:
        executor.shutdown()
        raise
    return executor


def run(config: Config, progress: Callable[[dict], None] | None = None) -> tuple[Path, dict]:
    """Run (or resume) the job described by ``config``; return the output directory and totals.

    Everything the config names is built (rewards here, the model side in the executor) and the
    output directory checked before anything is written: a bad config writes nothing.
    """
    check_plugins(config)
    rewards = build_components(config.reward.components)
    surrogates = build_surrogates(config.reward.components)
    executor = cache = None
    try:
        check_fill(config.value.fill, rewards=rewards)
        output = RunOutput(config)
        output.check()
        executor = start_executor(config, rewards, progress)
        cache = RewardCache(config.reward.cache_file, enabled=config.reward.cache)
        keys = {name: key_function(reward) for name, reward in rewards.items()}
        done = output.open()
        totals = Driver(config, executor, output, cache, keys, progress, surrogates).run(done)
    finally:
        if executor is not None:
            executor.shutdown()
        if cache is not None:
            cache.close()
        for reward in rewards.values():
            close_reward(reward)
    output.finish(totals)
    return output.dir, totals

"""The distributed engine: run a configured sampling job locally or on a Ray cluster."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from svdd_ray.config import Config
from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.cluster import check_resources, connect, release_resources, wait_for_resources
from svdd_ray.engine.driver import Driver
from svdd_ray.engine.executors import Executor, LocalExecutor, RayExecutor
from svdd_ray.engine.output import RunOutput, batch_sizes
from svdd_ray.engine.probe import probe_rewards
from svdd_ray.errors import ConfigError, Interrupted, RunFailed
from svdd_ray.plugins import BUILTINS, resolve
from svdd_ray.protocol import Reward
from svdd_ray.rewards import build_components, close_reward, key_function, reads_domain
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
        reward = resolve("reward", c.target, f"reward.components[{i}].target")
        check_domain(reward, c.target, config, f"reward.components[{i}].target")


def check_domain(reward: object, target: str, config: Config, key: str) -> None:
    """Refuse a reward that declares it scores another built-in domain's objects than the model makes."""
    reads, domain = reads_domain(reward), config.model.domain
    if reads and domain in BUILTINS["domain"] and domain not in ("generic", reads):
        raise ConfigError(
            f"{key}: {target!r} scores {reads}, but model {config.model.target!r} makes {domain} (model.domain)"
        )


@contextlib.contextmanager
def kept_signal_handlers() -> Iterator[None]:
    """Keep the caller's own SIGTERM handler (the CLI's clean stop) across ``ray.init``, which sets one."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(before):
            signal.signal(signal.SIGTERM, before)


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
    with kept_signal_handlers():
        connect(config.resources.address, config.resources.num_cpus, config.resources.connect_timeout_s)
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

    Everything the config names is built (rewards here, the model side in the executor), the output
    directory checked and the rewards probed before anything is written: a bad config writes nothing.
    A run that is already complete returns its manifest's totals (with ``already_complete``) at once.
    Ctrl-C (or SIGTERM raised as KeyboardInterrupt) ends it with :class:`Interrupted`, its finished
    batches and its totals so far kept for a resume.
    """
    progress = progress or (lambda event: None)
    check_plugins(config)
    output = RunOutput(config)
    done = output.check()
    num_batches = len(batch_sizes(config.run.num_samples, config.run.batch_size))
    if output.complete(num_batches):
        return output.dir, {**output.manifest["totals"], "already_complete": True}
    if output.damaged:
        progress({"kind": "damaged", "files": output.damaged})
    rewards = build_components(config.reward.components)
    surrogates = build_surrogates(config.reward.components)
    executor = cache = driver = None
    try:
        check_fill(config.value.fill, rewards=rewards)
        executor = start_executor(config, rewards, progress)
        probe_calls = probe_rewards(config, executor)
        cache = RewardCache(config.reward.cache_file, enabled=config.reward.cache)
        keys = {name: key_function(reward) for name, reward in rewards.items()}
        done = output.open()
        driver = Driver(config, executor, output, cache, keys, progress, surrogates)
        driver.totals["probe_reward_calls"] = probe_calls
        totals = driver.run(done)
    except KeyboardInterrupt:
        if driver is None:
            raise Interrupted("interrupted before the first batch started; nothing was written") from None
        output.interrupt(driver.abandon())
        raise Interrupted(
            f"interrupted after {len(done) + driver.totals['batches']} of {num_batches} batches; "
            "the same command resumes"
        ) from None
    finally:
        if executor is not None:
            executor.shutdown()
        if cache is not None:
            cache.close()
        for reward in rewards.values():
            close_reward(reward)
    output.finish(totals)
    check_valid(config, totals, driver.first_failures)
    return output.dir, totals


def check_valid(config: Config, totals: dict, first_failures: dict[str, str]) -> None:
    """A run whose final samples are all invalid fails (:class:`RunFailed`), quoting the rewards' first failure."""
    if not totals["samples"] or totals["invalid_samples"] < totals["samples"]:
        return
    failing = [
        f"reward.components[{i}] ({c.target}): {totals['reward_failures'][c.name]} failures, first: "
        f"{first_failures[c.name]}"
        for i, c in enumerate(config.reward.components)
        if totals["reward_failures"].get(c.name)
    ]
    raise RunFailed(
        f"every one of the {totals['samples']} final samples is invalid"
        + (f"; {failing[0]}" if failing else " (the rewards returned NaN or a require bound refused them)")
    )

"""The reward health probe: a few pretrained samples through every reward component before a run."""

from __future__ import annotations

import math
import time

from svdd_ray.config import Config, RewardComponent
from svdd_ray.engine.executors import Executor, last_line
from svdd_ray.errors import ConfigError, RunFailed


def probe_rewards(config: Config, executor: Executor) -> int:
    """Score a few pretrained samples through every reward component; return the reward calls it took.

    Each component scores them one call at a time, on its own pool, until one gets a finite score (a
    healthy reward costs one call). A component for which every probe fails (the reward raises, returns
    a non-number or NaN, or hangs past its ``timeout_s``) stops the run before anything is written, with
    one line quoting the component and its first failure.
    """
    if not config.reward.probe:
        return 0
    try:
        objects = executor.probe_objects(config.reward.probe)
    except Exception as err:  # noqa: BLE001 - a model that cannot sample at all: no batch would get through
        raise RunFailed(f"model: sampling {config.reward.probe} pretrained objects failed: {last_line(err)}") from None
    calls = 0
    for i, c in enumerate(config.reward.components):
        first = None
        for obj in objects:
            calls += 1
            score, failure = _probe_one(executor, c, obj, config.resources.start_timeout_s)
            if math.isfinite(score):
                break
            first = first or failure
        else:
            raise ConfigError(
                f"reward.components[{i}] ({c.target}): every probe failed: {first or 'every one scored NaN'} "
                f"({len(objects)} pretrained samples; reward.probe=0 skips this check)"
            )
    return calls


def _probe_one(executor: Executor, component: RewardComponent, obj: object, start_timeout_s: float):
    """One object through ``component``'s pool: (score, why it failed or None)."""
    pool = executor.pools[component.name]
    deadline = time.monotonic() + start_timeout_s
    while not pool.free_slots():  # reward actors still starting (a failed start raises here)
        if time.monotonic() > deadline:
            raise ConfigError(
                f"reward.components: {component.name!r} has no reward actor up after {start_timeout_s:g} s"
            )
        executor.wait([], timeout=1.0)
    handle = pool.submit([obj])
    if not executor.wait([handle], timeout=component.timeout_s):
        pool.abandon(handle)
        return math.nan, f"no answer within timeout_s = {component.timeout_s:g} s"
    try:
        scored = pool.result(handle)
    except Exception as err:  # noqa: BLE001 - the actor died
        return math.nan, last_line(err)
    return scored.scores[0], scored.first_failure

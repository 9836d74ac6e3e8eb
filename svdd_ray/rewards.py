"""Rewards from config components: built by name, keyed for the cache, scored safely, combined by weight.

A reward satisfies :class:`svdd_ray.protocol.Reward`: a callable ``list[object] -> list[float]``
(a function, or a class built once with its options), optionally with ``canonical_key(obj)`` and
``close()``. NaN, inf, or an exception for an object marks that object invalid; invalid objects
rank below every valid candidate and the run goes on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from svdd_ray import plugins
from svdd_ray.config import RewardComponent
from svdd_ray.protocol import Reward

__all__ = [
    "build_components",
    "build_reward",
    "canonical_key",
    "close_reward",
    "combine",
    "content_key",
    "key_function",
    "keyed_by",
    "reads_probabilities",
    "reward_function",
    "score_safely",
]


def build_reward(target: str, options: dict | None = None, key: str = "reward") -> Reward:
    """Build the reward ``target`` (a built-in name or ``"pkg.module:name"``) with ``options``."""
    return plugins.build("reward", target, options, key=key)


def keyed_by(key: Callable[[Any], str]) -> Callable:
    """Decorate a reward *function* with its ``canonical_key`` (classes define the method instead)."""

    def attach(fn: Callable) -> Callable:
        fn.canonical_key = key
        return fn

    return attach


def content_key(obj: Any) -> str:
    """The default cache key: the text itself, a hash of an array's bytes, else canonical JSON."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, np.ndarray):
        return hashlib.sha1(repr((obj.shape, obj.dtype.str)).encode() + obj.tobytes()).hexdigest()
    return json.dumps(obj, sort_keys=True, default=str)


def _declared(reward: Reward, name: str) -> Any:
    """The reward's attribute ``name``, also through options bound by ``partial``; None if it has none."""
    own = getattr(reward, name, None)
    if own is None and isinstance(reward, functools.partial):
        own = getattr(reward.func, name, None)
    return own


def key_function(reward: Reward) -> Callable[[Any], str]:
    """The reward's own ``canonical_key`` (also through options bound by ``partial``), else :func:`content_key`."""
    return _declared(reward, "canonical_key") or content_key


def reads_probabilities(reward: Reward) -> bool:
    """Whether the reward declares ``reads_probabilities = True``: it scores float ``[length, alphabet]``
    arrays of per-position probabilities as well as decoded sequences (``value.fill: soft | uniform``)."""
    return bool(_declared(reward, "reads_probabilities"))


def canonical_key(reward: Reward, obj: Any) -> str:
    """The cache key of ``obj`` under ``reward``."""
    return key_function(reward)(obj)


def close_reward(reward: Reward) -> None:
    """Call the reward's optional ``close()`` (workers, files); a failure there is ignored."""
    close = getattr(reward, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must not mask the run's own outcome
            pass


def _as_float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def score_safely(reward: Reward, objects: list) -> list[float]:
    """Score ``objects``; if the batch call fails, score one by one so one bad object costs only itself."""
    try:
        scores = list(reward(objects))
        if len(scores) == len(objects):
            return [_as_float(s) for s in scores]
    except Exception:  # noqa: BLE001 - a reward's failure must not end the run
        pass
    out = []
    for obj in objects:
        try:
            (score,) = list(reward([obj]))
            out.append(_as_float(score))
        except Exception:  # noqa: BLE001
            out.append(math.nan)
    return out


def combine(components: Sequence[RewardComponent], scores: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted sum of component scores; NaN where any component is invalid or out of ``require``."""
    total = np.zeros(len(next(iter(scores.values()))), dtype=np.float64)
    for comp in components:
        s = np.asarray(scores[comp.name], dtype=np.float64)
        if comp.require is not None:
            low, high = comp.require
            bad = (s < (-np.inf if low is None else low)) | (s > (np.inf if high is None else high))
            s = np.where(bad, np.nan, s)
        if comp.clip is not None:
            low, high = comp.clip
            s = np.clip(s, -np.inf if low is None else low, np.inf if high is None else high)
        total = total + comp.weight * s
    return total


def build_components(components: Sequence[RewardComponent]) -> dict[str, Reward]:
    """Build each component's reward, keyed by its name; a failure names the component's key."""
    return {
        c.name: build_reward(c.target, c.options, key=f"reward.components[{i}].target")
        for i, c in enumerate(components)
    }


def reward_function(components: Sequence[RewardComponent]) -> Callable[[list], list[float]]:
    """The components as one in-process reward: their weighted sum, NaN where any is invalid."""
    rewards = build_components(components)

    def reward(objects: list) -> list[float]:
        scores = {name: np.asarray(score_safely(fn, objects), dtype=np.float64) for name, fn in rewards.items()}
        return combine(components, scores).tolist()

    reward.reads_probabilities = all(reads_probabilities(fn) for fn in rewards.values())
    return reward

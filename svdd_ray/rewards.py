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
from dataclasses import dataclass
from typing import Any

import numpy as np

from svdd_ray import plugins
from svdd_ray.config import RewardComponent
from svdd_ray.errors import one_line
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
    "reads",
    "reads_domain",
    "reads_probabilities",
    "reward_function",
    "Scored",
    "score_objects",
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


def reads(domain: str) -> Callable:
    """Decorate a reward *function* with the domain of the objects it scores (classes set ``reads = ...``)."""

    def attach(fn: Callable) -> Callable:
        fn.reads = domain
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


def reads_domain(reward: Reward) -> str | None:
    """The domain of the objects the reward declares it scores (``reads``), or None for any objects."""
    return _declared(reward, "reads")


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


@dataclass
class Scored:
    """A reward call's scores (NaN for an invalid object) and how many objects failed: the reward raised
    for them or returned something that is not a number (a NaN it returns itself is a verdict, not a failure)."""

    scores: list[float]
    failures: int = 0
    first_failure: str | None = None  # the first failure, in one line


def _as_float(v: Any) -> tuple[float, str | None]:
    """``v`` as a float (NaN when not finite) and, when ``v`` is not a number at all, why."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan, f"returned {v!r:.40} ({type(v).__name__}), not a number"
    return (f if math.isfinite(f) else math.nan), None


def score_objects(reward: Reward, objects: list) -> Scored:
    """Score ``objects``; if the batch call fails, score one by one so one bad object costs only itself."""
    try:
        batch = list(reward(objects))
    except Exception:  # noqa: BLE001 - a reward's failure must not end the run
        batch = None
    if batch is not None and len(batch) == len(objects):
        parsed = [_as_float(s) for s in batch]
    else:
        parsed = [_score_one(reward, obj) for obj in objects]
    problems = [why for _, why in parsed if why]
    return Scored([f for f, _ in parsed], len(problems), problems[0] if problems else None)


def _score_one(reward: Reward, obj: Any) -> tuple[float, str | None]:
    try:
        out = list(reward([obj]))
    except Exception as err:  # noqa: BLE001
        return math.nan, one_line(err)
    if len(out) != 1:
        return math.nan, f"returned {len(out)} scores for 1 object"
    return _as_float(out[0])


def score_safely(reward: Reward, objects: list) -> list[float]:
    """The scores of :func:`score_objects` (NaN for each invalid object)."""
    return score_objects(reward, objects).scores


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

"""Rewards as plugins: built-in names or ``"pkg.module:name"``, scored safely, combined by weight.

A reward is a function ``list[object] -> list[float]`` or a class whose instances are such
callables (built once, with options). NaN, inf, or an exception for an object marks that
object invalid; invalid objects rank below every valid candidate and the run goes on.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Built-in rewards by name; domain packages are imported only when named.
BUILTIN = {
    "ones": "svdd_ray.demo:ones",
    "sleepy_ones": "svdd_ray.demo:SleepyOnes",
    "qed": "svdd_ray.chem.rewards:qed",
    "sa": "svdd_ray.chem.rewards:sa",
    "logp": "svdd_ray.chem.rewards:logp",
    "penalized_logp": "svdd_ray.chem.rewards:penalized_logp",
    "molecular_weight": "svdd_ray.chem.rewards:molecular_weight",
    "docking": "svdd_ray.chem.docking:DockingReward",
    "compressibility": "svdd_ray.images.rewards:compressibility",
    "digit": "svdd_ray.images.rewards:DigitReward",
}


def resolve(target: str) -> Any:
    """Import ``"pkg.module:attr"`` (or a built-in name) and return the attribute."""
    path = BUILTIN.get(target, target)
    if ":" not in path:
        raise ValueError(f"unknown reward {target!r}: not a built-in ({', '.join(BUILTIN)}) nor 'pkg.module:name'")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{target!r}: cannot import {module_name} ({err})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{target!r}: {module_name} has no attribute {attr!r}") from None


def build_reward(name: str, options: dict | None = None) -> Callable[[list], Any]:
    """Instantiate a reward class with ``options``, or bind ``options`` to a reward function."""
    target = resolve(name)
    options = options or {}
    if inspect.isclass(target):
        return target(**options)
    if not callable(target):
        raise ValueError(f"reward {name!r} is not callable")
    return functools.partial(target, **options) if options else target


def canonical_key(reward: Any, obj: Any) -> str:
    """The cache key of ``obj``: the reward's own ``canonical_key`` if it has one, else a content hash."""
    own = getattr(reward, "canonical_key", None) or getattr(getattr(reward, "func", None), "canonical_key", None)
    if own is not None:
        return own(obj)
    if isinstance(obj, str):
        return obj
    if isinstance(obj, np.ndarray):
        return hashlib.sha1(repr((obj.shape, obj.dtype.str)).encode() + obj.tobytes()).hexdigest()
    return json.dumps(obj, sort_keys=True, default=str)


def _as_float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def score_safely(reward: Callable[[list], Any], objects: list) -> list[float]:
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


@dataclass
class Component:
    """A named reward with its weight and optional ``clip`` and ``require`` bounds."""

    name: str
    weight: float = 1.0
    clip: tuple | None = None
    require: tuple | None = None


def combine(components: list[Component], scores: dict[str, np.ndarray]) -> np.ndarray:
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

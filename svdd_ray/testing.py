"""Misbehaving rewards for testing the engine's fault handling (importable by Ray workers)."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from svdd_ray.demo import bitstrings, ones
from svdd_ray.models import MaskedDiffusion


class CrashOnce:
    """Kills its own process on the first call ever made (a marker file remembers), then scores ``ones``."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    def __call__(self, objects: list[str]) -> list[float]:
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return ones(objects)


class RaisesOn:
    """Raises for objects starting with ``prefix`` (and so for any list holding one); NaN for ``nan_prefix``."""

    def __init__(self, prefix: str = "11", nan_prefix: str = "00") -> None:
        self.prefix, self.nan_prefix = prefix, nan_prefix

    def __call__(self, objects: list[str]) -> list[float]:
        if any(o.startswith(self.prefix) for o in objects):
            raise RuntimeError("bad object")
        return [float("nan") if o.startswith(self.nan_prefix) else v for o, v in zip(objects, ones(objects))]


class HangsOn:
    """Sleeps ``seconds`` when a list holds an object starting with ``prefix`` (a hung docking call)."""

    def __init__(self, prefix: str = "111", seconds: float = 3600.0) -> None:
        self.prefix, self.seconds = prefix, seconds

    def __call__(self, objects: list[str]) -> list[float]:
        if any(o.startswith(self.prefix) for o in objects):
            time.sleep(self.seconds)
        return ones(objects)


class OnesByCount:
    """``ones`` with an ordinary ``canonical_key`` method: strings with as many ones share one score."""

    def __call__(self, objects: list[str]) -> list[float]:
        return ones(objects)

    def canonical_key(self, obj: str) -> str:
        return str(obj.count("1"))


class FailsOnWorkers:
    """Builds in the driver but not in a Ray worker (as a module missing on the cluster's nodes would)."""

    def __init__(self) -> None:
        import ray

        if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
            raise ImportError("No module named 'my_rewards' (not installed on this node)")

    def __call__(self, objects: list[str]) -> list[float]:
        return ones(objects)


def _failing_proposals(model, fail) -> MaskedDiffusion:
    """``model`` whose ``propose`` first calls ``fail(n)`` with the running count of its proposals."""
    calls = itertools.count(1)
    propose = model.propose

    def failing(x, t, generator):
        fail(next(calls))
        return propose(x, t, generator)

    model.propose = failing
    return model


def bitstrings_that_fail_once(marker: str, after: int = 10, crash: bool = True, **options) -> MaskedDiffusion:
    """The bitstrings demo failing at its ``after``-th proposal, once ever (a marker file remembers).

    ``crash``: its process dies (a lost actor or node); else the proposal raises.
    """

    def fail(n: int) -> None:
        if n == after and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            if crash:
                os._exit(1)
            raise RuntimeError(f"transient failure at proposal {n}")

    return _failing_proposals(bitstrings(**options), fail)


def bitstrings_that_raise(after: int = 10, **options) -> MaskedDiffusion:
    """The bitstrings demo that raises on every proposal after its ``after``-th (a non-transient failure)."""

    def fail(n: int) -> None:
        if n > after:
            raise RuntimeError(f"model broken after {after} proposals")

    return _failing_proposals(bitstrings(**options), fail)

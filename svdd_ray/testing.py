"""Misbehaving rewards for testing the engine's fault handling (importable by Ray workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from svdd_ray.demo import ones


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

"""Where batches denoise and rewards are scored: in this process, or in Ray actors.

Both executors offer the same small interface to the driver: submit work and get a handle,
wait for handles, read a result, abandon a handle that ran past its deadline.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from svdd_ray.config import Config
from svdd_ray.engine.runner import BatchRunner
from svdd_ray.rewards import build_reward, score_safely


@dataclass(eq=False)
class Finished:
    """A local handle: the work already ran; ``error`` holds its exception if it failed."""

    value: Any = None
    error: BaseException | None = None


class LocalExecutor:
    """Runs everything in this process, one call at a time (no timeouts: nothing can be abandoned)."""

    def __init__(self, config: Config) -> None:
        self.runner = BatchRunner(config)
        self.rewards = {c.name: build_reward(c.name, c.options) for c in config.reward.components}

    def _call(self, fn, *args) -> Finished:
        try:
            return Finished(fn(*args))
        except Exception as err:  # noqa: BLE001 - the driver decides what a failure means
            return Finished(error=err)

    def start(self, batch: int, num_samples: int) -> Finished:
        return self._call(self.runner.start, batch, num_samples)

    def resume(self, batch: int, rewards) -> Finished:
        return self._call(self.runner.resume, batch, rewards)

    def score(self, component: str, objects: list) -> Finished:
        return self._call(score_safely, self.rewards[component], objects)

    def wait(self, handles: list, timeout: float | None) -> list:
        return list(handles)

    def result(self, handle: Finished) -> Any:
        if handle.error is not None:
            raise handle.error
        return handle.value

    def abandon(self, handle: Finished) -> None:
        pass

    def finish(self, batch: int) -> None:
        pass

    def free_slots(self, component: str) -> int:
        return 1

    def background(self) -> list:
        return []

    def shutdown(self) -> None:
        pass


class DenoiserActor:
    """Ray actor body: one model, many batches (see :class:`BatchRunner`)."""

    def __init__(self, config: Config) -> None:
        self.runner = BatchRunner(config)

    def start(self, batch: int, num_samples: int):
        return self.runner.start(batch, num_samples)

    def resume(self, batch: int, rewards):
        return self.runner.resume(batch, rewards)


class RewardActor:
    """Ray actor body: one reward, built once, scoring lists of objects."""

    def __init__(self, name: str, options: dict) -> None:
        self.reward = build_reward(name, options)

    def score(self, objects: list) -> list[float]:
        return score_safely(self.reward, objects)

    def ready(self) -> bool:
        return True


class RayExecutor:
    """Denoiser actors own batches; one pool of reward actors per reward component.

    A reward actor gets one call at a time (the driver queues the rest), so a call's deadline
    measures the reward itself, and a hung or dead actor can be replaced without losing others.
    """

    def __init__(self, config: Config) -> None:
        import ray

        self.ray = ray
        res = config.resources
        denoiser = ray.remote(DenoiserActor).options(num_cpus=res.denoiser_num_cpus, num_gpus=res.denoiser_num_gpus)
        self.denoisers = [denoiser.remote(config) for _ in range(res.denoiser_actors)]
        self.owner: dict[int, int] = {}  # batch -> denoiser index
        self.reward_classes = {}
        self.pools: dict[str, list] = {}
        self.idle: dict[str, list[int]] = {}
        for comp in config.reward.components:
            cls = ray.remote(RewardActor).options(
                num_cpus=comp.num_cpus, max_restarts=res.max_retries, max_task_retries=res.max_retries
            )
            self.reward_classes[comp.name] = (cls, comp.options)
            self.idle[comp.name] = []
            self.pools[comp.name] = [None] * comp.actors
        self.tasks: dict[Any, tuple[str, int]] = {}  # reward call -> (component, actor index)
        self.starting: dict[Any, tuple[str, int]] = {}  # readiness probe -> (component, actor index)
        for name, pool in self.pools.items():
            for i in range(len(pool)):
                self._start_reward_actor(name, i)

    def _start_reward_actor(self, name: str, i: int) -> None:
        """Start actor ``i`` of a pool; it takes calls once its readiness probe returns."""
        cls, options = self.reward_classes[name]
        self.pools[name][i] = cls.remote(name, options)
        self.starting[self.pools[name][i].ready.remote()] = (name, i)

    def background(self) -> list:
        """Handles the driver should also wait on: readiness probes of starting reward actors."""
        return list(self.starting)

    def on_background(self, handle) -> None:
        """A probe returned: the actor is up (a failed start is retried with a fresh actor)."""
        name, i = self.starting.pop(handle)
        try:
            self.ray.get(handle, timeout=60)
        except Exception:  # noqa: BLE001
            self._start_reward_actor(name, i)
            return
        self.idle[name].append(i)

    def start(self, batch: int, num_samples: int):
        loads = [list(self.owner.values()).count(i) for i in range(len(self.denoisers))]
        self.owner[batch] = loads.index(min(loads))
        return self.denoisers[self.owner[batch]].start.remote(batch, num_samples)

    def resume(self, batch: int, rewards):
        return self.denoisers[self.owner[batch]].resume.remote(batch, rewards)

    def finish(self, batch: int) -> None:
        self.owner.pop(batch, None)

    def free_slots(self, component: str) -> int:
        return len(self.idle[component])

    def score(self, component: str, objects: list):
        i = self.idle[component].pop()
        ref = self.pools[component][i].score.remote(objects)
        self.tasks[ref] = (component, i)
        return ref

    def wait(self, handles: list, timeout: float | None) -> list:
        if not handles:
            return []
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:
            more, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
            ready = list(dict.fromkeys(itertools.chain(ready, more)))
        return ready

    def result(self, handle) -> Any:
        """The call's result; a failed reward call's actor is replaced before the error is raised."""
        try:
            value = self.ray.get(handle, timeout=60)
        except Exception:
            self.abandon(handle)
            raise
        task = self.tasks.pop(handle, None)
        if task is not None:
            self.idle[task[0]].append(task[1])
        return value

    def abandon(self, handle) -> None:
        """Give up on a reward call: kill its actor and put a fresh one in its place."""
        task = self.tasks.pop(handle, None)
        if task is None:
            return
        component, i = task
        self.ray.kill(self.pools[component][i], no_restart=True)
        self._start_reward_actor(component, i)

    def shutdown(self) -> None:
        for actor in self.denoisers + [a for pool in self.pools.values() for a in pool]:
            self.ray.kill(actor)

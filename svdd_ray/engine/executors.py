"""Where batches denoise and rewards are scored: in this process, or in Ray actors.

The driver sees an :class:`Executor` (denoising calls, waiting, results) and one
:class:`RewardPool` per reward component (reward calls on idle actors). Handles are opaque:
a finished call in the local executor, an ``ObjectRef`` on Ray.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from svdd_ray.config import Config, RewardComponent
from svdd_ray.engine.runner import BatchDone, BatchRunner, NeedRewards
from svdd_ray.engine.stacking import PassStats, pass_totals
from svdd_ray.errors import ConfigError, RunFailed
from svdd_ray.protocol import Reward
from svdd_ray.rewards import Scored, build_reward, score_objects

Handle = Any


def last_line(err: BaseException) -> str:
    """The last line of a (remote) error's text, without terminal colours: where Ray puts the cause."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return lines[-1] if len(lines) > 1 else f"{type(err).__name__}: {lines[0]}"


class RewardPool(Protocol):
    """The actors that score one reward component, one call per actor at a time."""

    def free_slots(self) -> int:
        """How many calls can be submitted now."""
        ...

    def submit(self, objects: list) -> Handle:
        """Score ``objects`` on an idle actor."""
        ...

    def result(self, handle: Handle) -> Scored:
        """The scores of a finished call; frees its actor. Raises if the actor died (it is replaced)."""
        ...

    def abandon(self, handle: Handle) -> None:
        """Give up on a call past its deadline: replace its actor."""
        ...


class Executor(Protocol):
    """Denoising calls on the model side, reward pools on the reward side, and a wait over both."""

    pools: dict[str, RewardPool]

    def ready(self) -> None:
        """Block until everything is built; a build failure is a ConfigError naming the config key."""
        ...

    def probe_objects(self, n: int) -> list:
        """``n`` objects sampled from the pretrained model (see :meth:`BatchRunner.probe_objects`)."""
        ...

    def start(self, batch: int, num_samples: int) -> Handle:
        """Create and advance batch ``batch``; its handle yields NeedRewards or BatchDone."""
        ...

    def resume(self, batch: int, rewards: np.ndarray) -> Handle:
        """Hand ``rewards`` back to batch ``batch`` and advance it."""
        ...

    def outcome(self, handle: Handle) -> NeedRewards | BatchDone:
        """The result of a denoising call (raises what the call raised)."""
        ...

    def wait(self, handles: list[Handle], timeout: float | None) -> list[Handle]:
        """The handles among ``handles`` that have finished (waiting at most ``timeout`` s for one)."""
        ...

    def logs(self) -> str | None:
        """Where the workers' logs are, for error messages (None in process)."""
        ...

    def pass_stats(self) -> dict[str, int]:
        """``model_calls`` of the batches' samplers and the ``model_passes`` they ran in, over the denoisers."""
        ...

    def shutdown(self) -> None:
        """Stop the actors and close the rewards."""
        ...


# ---------------------------------------------------------------------- in this process
@dataclass(eq=False)
class Finished:
    """A local handle: the work already ran; ``error`` holds its exception if it failed."""

    value: Any = None
    error: BaseException | None = None

    @classmethod
    def of(cls, fn, *args) -> Finished:
        try:
            return cls(fn(*args))
        except Exception as err:  # noqa: BLE001 - the driver decides what a failure means
            return cls(error=err)

    def get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class LocalRewardPool:
    """One reward in this process; a call runs at once (nothing can be abandoned)."""

    def __init__(self, reward: Reward) -> None:
        self.reward = reward

    def free_slots(self) -> int:
        return 1

    def submit(self, objects: list) -> Finished:
        return Finished.of(score_objects, self.reward, objects)

    def result(self, handle: Finished) -> Scored:
        return handle.get()

    def abandon(self, handle: Finished) -> None:
        return None


class LocalExecutor:
    """Runs everything in this process, one call at a time, with rewards the caller built (and closes)."""

    def __init__(self, config: Config, rewards: dict[str, Reward]) -> None:
        self.runner = BatchRunner(config)
        self.pools = {name: LocalRewardPool(reward) for name, reward in rewards.items()}

    def ready(self) -> None:
        return None

    def probe_objects(self, n: int) -> list:
        return self.runner.probe_objects(n)

    def start(self, batch: int, num_samples: int) -> Finished:
        return Finished.of(self.runner.start, batch, num_samples)

    def resume(self, batch: int, rewards: np.ndarray) -> Finished:
        return Finished.of(self.runner.resume, batch, rewards)

    def outcome(self, handle: Finished) -> NeedRewards | BatchDone:
        return handle.get()

    def wait(self, handles: list, timeout: float | None) -> list:
        return list(handles)

    def logs(self) -> None:
        return None

    def pass_stats(self) -> dict[str, int]:
        return pass_totals([self.runner.model.pass_stats])

    def shutdown(self) -> None:
        return None


# ---------------------------------------------------------------------- on Ray
class DenoiserActor:
    """Ray actor body: one model, many batches (see :class:`BatchRunner`).

    A failure to build is kept and reported by :meth:`ready`, so the driver can name the
    config key instead of Ray reporting a dead actor.
    """

    def __init__(self, config: Config) -> None:
        self.runner, self.error = None, None
        try:
            self.runner = BatchRunner(config)
        except Exception as err:  # noqa: BLE001 - reported by ready()
            self.error = str(err) if isinstance(err, ConfigError) else f"model: {type(err).__name__}: {err}"

    def ready(self) -> str | None:
        return self.error

    def probe_objects(self, n: int) -> list:
        return self.runner.probe_objects(n)

    def advance(self, work: list[tuple[str, int, tuple]]) -> list:
        """Run ``(method, batch, args)`` items together (see :meth:`BatchRunner.advance`)."""
        return self.runner.advance(work)

    def pass_stats(self) -> PassStats:
        """The model calls of this actor's batches and the passes they ran in (since it last started)."""
        return self.runner.model.pass_stats


class RewardActor:
    """Ray actor body: one reward, built once, scoring lists of objects."""

    def __init__(self, target: str, options: dict) -> None:
        self.reward = build_reward(target, options)

    def score(self, objects: list) -> Scored:
        return score_objects(self.reward, objects)

    def ready(self) -> bool:
        return True


class RayRewardPool:
    """``actors`` reward actors of one component; an actor takes calls once its readiness probe returns.

    A hung or dead actor is killed and replaced without touching the others; a failed start is
    retried with a fresh actor.
    """

    def __init__(self, ray, component: RewardComponent, max_retries: int, key: str) -> None:
        self.ray = ray
        self.component = component
        self.key = key
        self.max_retries = max_retries
        self.failed_starts = 0  # in a row, over the pool
        self.actor_class = ray.remote(RewardActor).options(
            num_cpus=component.num_cpus, max_restarts=max_retries, max_task_retries=max_retries
        )
        self.actors: list = [None] * component.actors
        self.idle: list[int] = []
        self.calls: dict[Handle, int] = {}  # reward call -> actor index
        self.probes: dict[Handle, int] = {}  # readiness probe -> actor index
        for i in range(component.actors):
            self._start(i)

    def _start(self, i: int) -> None:
        self.actors[i] = self.actor_class.remote(self.component.target, self.component.options)
        self.probes[self.actors[i].ready.remote()] = i

    def on_probe(self, probe: Handle) -> None:
        """A readiness probe returned: the actor is up, or (a failed start) replaced."""
        i = self.probes.pop(probe)
        try:
            self.ray.get(probe, timeout=60)
        except Exception as err:  # noqa: BLE001
            self.failed_starts += 1
            if self.failed_starts > self.max_retries:
                raise ConfigError(
                    f"{self.key}: reward actors of {self.component.name!r} fail to start on the cluster "
                    f"({last_line(err)})"
                ) from None
            self._start(i)
            return
        self.failed_starts = 0
        self.idle.append(i)

    def free_slots(self) -> int:
        return len(self.idle)

    def submit(self, objects: list) -> Handle:
        i = self.idle.pop()
        handle = self.actors[i].score.remote(objects)
        self.calls[handle] = i
        return handle

    def result(self, handle: Handle) -> Scored:
        try:
            scores = self.ray.get(handle, timeout=60)
        except Exception:
            self.abandon(handle)
            raise
        self.idle.append(self.calls.pop(handle))
        return scores

    def abandon(self, handle: Handle) -> None:
        i = self.calls.pop(handle, None)
        if i is not None:
            self.ray.kill(self.actors[i], no_restart=True)
            self._start(i)

    def shutdown(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


@dataclass(eq=False)
class Work:
    """One batch's denoising call as the driver sees it (its handle); several travel in one actor call."""

    batch: int
    method: str
    args: tuple
    done: bool = False
    outcome: Any = None
    error: BaseException | None = None


class RayDenoisers:
    """The denoiser actors: which batch each owns, which are up, and the work waiting for each.

    Continuous batching: an actor has at most one call in flight; work for its batches that arrives
    meanwhile waits here and goes, all of it, in its next call (:meth:`DenoiserActor.advance`), so a
    busy actor takes many batches' steps per call instead of one call per step. Each batch keeps its own
    sampler and generator, so the samples do not depend on how work was grouped.

    Ray restarts a denoiser that dies (``max_restarts=-1``); the batches of the call it died in and of
    the work waiting for it fail (the driver replays them). Until the restarted actor answers its
    readiness probe (its node may still be coming back), new and replayed batches go only to the
    others; with none up, :meth:`place` waits for one, at most ``restart_timeout_s``.
    """

    def __init__(self, ray, config: Config) -> None:
        res = config.resources
        self.ray = ray
        actor_class = ray.remote(DenoiserActor).options(
            num_cpus=res.denoiser_num_cpus, num_gpus=res.denoiser_num_gpus, max_restarts=-1, max_task_retries=0
        )
        self.actors = [actor_class.remote(config) for _ in range(res.denoiser_actors)]
        self.restart_timeout_s = res.start_timeout_s
        self.owner: dict[int, int] = {}  # batch -> actor index
        self.in_flight: dict[Handle, tuple[int, list[Work]]] = {}  # actor call -> (actor index, its work)
        self.waiting: dict[int, list[Work]] = {}  # actor index -> work for its next call
        self.up: set[int] = set(range(len(self.actors)))
        self.probes: dict[Handle, int] = {}  # readiness probe of a restarting actor -> its index
        self.calls = self.items = 0  # actor calls sent, and work items they carried

    def call(self, batch: int, method: str, *args) -> Work:
        """Queue ``method`` for the actor that owns ``batch`` (``start`` places the batch first)."""
        if method == "start":
            self.owner[batch] = self.place()
        i = self.owner[batch]
        work = Work(batch, method, args)
        self.waiting.setdefault(i, []).append(work)
        self._send(i)
        return work

    def _send(self, i: int) -> None:
        """Send actor ``i`` all its waiting work in one call, unless it has a call in flight."""
        if any(owner == i for owner, _ in self.in_flight.values()) or not self.waiting.get(i):
            return
        work = self.waiting.pop(i)
        handle = self.actors[i].advance.remote([(w.method, w.batch, w.args) for w in work])
        self.in_flight[handle] = (i, work)
        self.calls, self.items = self.calls + 1, self.items + len(work)

    def place(self) -> int:
        """The least loaded actor that is up (waiting for a restart when none is)."""
        deadline = time.monotonic() + self.restart_timeout_s
        while not self.up:
            if not self.probes or time.monotonic() > deadline:
                raise RunFailed(f"no denoiser actor came back within {self.restart_timeout_s:g} s")
            ready, _ = self.ray.wait(list(self.probes), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for probe in ready:
                self.on_probe(probe)
        loads = {i: 0 for i in self.up}
        for i in self.owner.values():
            if i in loads:
                loads[i] += 1
        return min(loads, key=lambda i: (loads[i], i))

    def on_done(self, handle: Handle) -> None:
        """An actor call returned: each of its work items gets its outcome or error; the actor's waiting work goes."""
        i, work = self.in_flight.pop(handle)
        try:
            results = self.ray.get(handle, timeout=60)
        except self.ray.exceptions.RayActorError as err:
            if i in self.up:  # it died: probe it until Ray has restarted it
                self.up.discard(i)
                self.probes[self.actors[i].ready.remote()] = i
            for w in work + self.waiting.pop(i, []):
                w.done, w.error = True, err
            return
        except Exception as err:  # noqa: BLE001 - the call itself failed (its results did not travel)
            results = [err] * len(work)
        for w, result in zip(work, results):
            w.done = True
            if isinstance(result, BaseException):
                w.error = result
            else:
                w.outcome = result
                if isinstance(result, BatchDone):
                    self.owner.pop(result.batch, None)
        self._send(i)

    def outcome(self, work: Work) -> NeedRewards | BatchDone:
        if work.error is not None:
            raise work.error
        return work.outcome

    def on_probe(self, probe: Handle) -> None:
        i = self.probes.pop(probe)
        try:
            error = self.ray.get(probe, timeout=60)
        except self.ray.exceptions.RayActorError:
            self.probes[self.actors[i].ready.remote()] = i  # died again while restarting
            return
        if error:
            raise RunFailed(f"a restarted denoiser actor failed to build: {error}")
        self.up.add(i)


class RayExecutor:
    """Denoiser actors own batches (see :class:`RayDenoisers`); one :class:`RayRewardPool` per component.

    A reward actor gets one call at a time (the driver queues the rest), so a call's deadline
    measures the reward itself.
    """

    def __init__(self, config: Config) -> None:
        import ray

        self.ray = ray
        self.denoisers = RayDenoisers(ray, config)
        self.pools = {
            c.name: RayRewardPool(ray, c, config.resources.max_retries, f"reward.components[{i}].target")
            for i, c in enumerate(config.reward.components)
        }

    def ready(self) -> None:
        try:
            errors = self.ray.get([d.ready.remote() for d in self.denoisers.actors])
        except Exception as err:  # noqa: BLE001 - e.g. svdd_ray or torch missing on the cluster's nodes
            raise ConfigError(f"model: denoiser actors fail to start on the cluster ({last_line(err)})") from None
        error = next((e for e in errors if e), None)
        if error:
            raise ConfigError(error)

    def probe_objects(self, n: int) -> list:
        return self.ray.get(self.denoisers.actors[0].probe_objects.remote(n))

    def start(self, batch: int, num_samples: int) -> Handle:
        return self.denoisers.call(batch, "start", num_samples)

    def resume(self, batch: int, rewards: np.ndarray) -> Handle:
        return self.denoisers.call(batch, "resume", rewards)

    def outcome(self, handle: Handle) -> NeedRewards | BatchDone:
        return self.denoisers.outcome(handle)

    def wait(self, handles: list, timeout: float | None) -> list:
        """Finished handles (reward calls, and denoising work whose actor call returned); readiness probes of
        restarting actors and the denoisers' actor calls are handled here, not returned."""
        probes = {probe: pool for pool in self.pools.values() for probe in pool.probes}
        probes.update((probe, self.denoisers) for probe in self.denoisers.probes)
        work = [h for h in handles if isinstance(h, Work)]
        watched = [*(h for h in handles if not isinstance(h, Work)), *self.denoisers.in_flight, *probes]
        ready = []
        if watched:
            wait_s = 0 if any(w.done for w in work) else timeout
            ready, _ = self.ray.wait(watched, num_returns=1, timeout=wait_s)
            if ready:
                more, _ = self.ray.wait(watched, num_returns=len(watched), timeout=0)
                ready = list(dict.fromkeys(itertools.chain(ready, more)))
        finished = set()
        for handle in ready:
            if handle in probes:
                probes[handle].on_probe(handle)
            elif handle in self.denoisers.in_flight:
                self.denoisers.on_done(handle)
            else:
                finished.add(handle)
        return [h for h in handles if (h.done if isinstance(h, Work) else h in finished)]

    def logs(self) -> str | None:
        """This node's Ray log directory (a cluster's workers log on their own nodes, under the same path)."""
        try:
            return self.ray._private.worker._global_node.get_logs_dir_path()
        except AttributeError:  # no local node (Ray Client), or a Ray without this private API
            return "/tmp/ray/session_latest/logs on each node"

    def pass_stats(self) -> dict[str, int]:
        """Summed over the denoiser actors that answer (a restarted one counts from its restart)."""
        stats = []
        for actor in self.denoisers.actors:
            try:
                stats.append(self.ray.get(actor.pass_stats.remote(), timeout=10))
            except Exception:  # noqa: BLE001 - a dead or restarting actor: its counts are gone
                continue
        return pass_totals(stats)

    def shutdown(self) -> None:
        for actor in self.denoisers.actors:
            self.ray.kill(actor)
        for pool in self.pools.values():
            pool.shutdown()

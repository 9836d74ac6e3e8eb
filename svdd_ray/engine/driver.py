"""The driver: keeps many batches in flight, scores their objects through reward pools.

Event-driven: it waits on whatever is outstanding (denoising calls and reward calls) and
reacts to what finishes. While one batch's candidates are being scored, other batches
denoise. The algorithms stay in the sampler coroutines that the executors advance.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svdd_ray.config import Config
from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.executors import Executor, Handle, last_line
from svdd_ray.engine.output import RunOutput, batch_sizes, object_cell
from svdd_ray.engine.runner import BatchDone, NeedRewards
from svdd_ray.errors import RunFailed
from svdd_ray.rewards import combine
from svdd_ray.surrogates import PrescreenPolicy, Surrogate, first_objects


@dataclass
class BatchState:
    """What the driver knows about a batch in flight."""

    size: int
    started: float
    request: NeedRewards | None = None
    keys: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    outstanding: int = 0
    cache_hits: int = 0
    calls: dict[str, int] = field(default_factory=dict)  # reward calls per component
    trace: list[tuple] = field(default_factory=list)
    attempt: int = 0  # replays of the batch so far (see Driver._replay)
    steps: int = 0  # reward requests in this attempt
    accounted: int = 0  # reward requests already counted by earlier attempts
    policies: dict[str, PrescreenPolicy] = field(default_factory=dict)  # pre-screening, per component

    @property
    def reward_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class Chunk:
    """Objects of one batch sent to one reward call (the pending record of that call)."""

    batch: int
    component: str
    keys: list[str]
    objects: list
    attempts: int = 0
    deadline: float = math.inf
    replay: int = 0  # the batch attempt that asked for it


@dataclass(frozen=True)
class Denoising:
    """The pending record of a denoising call of batch ``batch``."""

    batch: int


class Driver:
    """Runs every unfinished batch of a run to completion through an executor.

    A denoising call that fails (its actor died, its node went, the model raised) is recovered
    by replay: the batch starts again from its beginning on a live denoiser. Its randomness comes
    only from (seed, batch), so the replay retraces the same states, and the rewards it already
    paid for come from the run's cache: the output equals an uninterrupted run. After
    ``resources.max_retries`` replays of one batch the run stops with :class:`RunFailed`.
    """

    def __init__(
        self,
        config: Config,
        executor: Executor,
        output: RunOutput,
        cache: RewardCache,
        keys: dict[str, Callable[[Any], str]],
        progress: Callable[[dict], None] | None = None,
        surrogates: dict[str, Surrogate] | None = None,
    ) -> None:
        """``keys``: each reward component's cache-key function (from the rewards built in this process);
        ``surrogates``: the pre-screening surrogate of each component that has ``prescreen``."""
        self.config = config
        self.executor = executor
        self.output = output
        self.cache = cache
        self.keys = keys
        self.progress = progress or (lambda event: None)
        self.surrogates = surrogates or {}
        self.components = config.reward.components
        self.settings = {c.name: c for c in self.components}
        self.labels = {c.name: c.cache_label for c in self.components}  # a digest each: computed once
        self.queues: dict[str, deque[Chunk]] = {c.name: deque() for c in self.components}
        self.pending: dict[Handle, Denoising | Chunk] = {}
        self.batches: dict[int, BatchState] = {}
        self.totals = {
            "batches": 0,
            "samples": 0,
            "candidates_scored": 0,
            "reward_calls": 0,
            "timeouts": 0,
            "failed_calls": 0,
            "replays": 0,
            "replay_reward_calls": 0,
            "surrogate_values": 0,
            "screened_out": 0,
            "reward_calls_by_component": {c.name: 0 for c in self.components},
            "probe_reward_calls": 0,
            "abandoned_reward_calls": 0,  # spent on batches an interrupt stopped (their work is redone)
            "invalid_samples": 0,
            "reward_failures": {c.name: 0 for c in self.components},  # objects a reward raised for
        }
        self.first_failures: dict[str, str] = {}  # each component's first failure, in one line

    def run(self, done: set[int]) -> dict:
        sizes = batch_sizes(self.config.run.num_samples, self.config.run.batch_size)
        todo = deque(b for b in range(len(sizes)) if b not in done)
        began = time.perf_counter()
        self.progress({"kind": "start", "batches": len(sizes), "done": len(done)})
        limit = self.config.resources.max_inflight_batches
        while todo or self.batches:
            while todo and len(self.batches) < limit:
                b = todo.popleft()
                self.batches[b] = BatchState(size=sizes[b], started=time.perf_counter(), policies=self._policies(b))
                self.pending[self.executor.start(b, sizes[b])] = Denoising(b)
            self._dispatch()
            for handle in self.executor.wait(list(self.pending), timeout=self._wait_timeout()):
                self._handle(handle, self.pending.pop(handle))
            self._expire()
        self.totals.update(
            wall_time_s=time.perf_counter() - began,
            cache_hits=self.cache.hits,
            cache_misses=self.cache.misses,
            cache_hit_rate=self.cache.hit_rate,
            **self.executor.pass_stats(),
        )
        return self.totals

    def abandon(self) -> dict:
        """The totals of a run being interrupted: the reward calls of its unfinished batches count as abandoned."""
        self.totals["abandoned_reward_calls"] += sum(state.reward_calls for state in self.batches.values())
        return self.totals

    # ------------------------------------------------------------------ events
    def _handle(self, handle: Handle, task: Denoising | Chunk) -> None:
        if isinstance(task, Denoising):
            try:
                outcome = self.executor.outcome(handle)
            except Exception as err:  # noqa: BLE001 - any denoiser failure is replayed, up to max_retries
                self._replay(task.batch, err)
                return
            if isinstance(outcome, NeedRewards):
                self._on_request(outcome)
            else:
                self._on_done(outcome)
            return
        chunk, failures = task, 0
        try:
            scored = self.executor.pools[chunk.component].result(handle)
        except Exception:  # noqa: BLE001 - the actor died beyond Ray's own retries
            self.totals["failed_calls"] += 1
            if chunk.attempts < self.config.resources.max_retries and not self._stale(chunk):
                chunk.attempts += 1
                self.queues[chunk.component].appendleft(chunk)
                return
            scores = [math.nan] * len(chunk.keys)
        else:
            scores, failures = scored.scores, scored.failures
            if failures:
                self._count_failures(chunk.component, scored.failures, scored.first_failure)
            for key, score in zip(chunk.keys, scores):
                self.cache.put(self.labels[chunk.component], key, score)
        self._record(chunk, scores)
        self.progress({"kind": "scored", "calls": len(chunk.keys), "failures": failures})

    def _count_failures(self, name: str, count: int, first: str | None) -> None:
        """Count objects a reward failed on; its first failure goes to ``progress`` once."""
        self.totals["reward_failures"][name] += count
        if name not in self.first_failures:
            self.first_failures[name] = first or "unknown"
            target = self.settings[name].target
            self.progress({"kind": "reward_failure", "component": name, "target": target, "error": first})

    def _on_request(self, request: NeedRewards) -> None:
        state = self.batches[request.batch]
        state.request = request
        state.scores, state.keys = {}, {}
        state.steps += 1
        first_time = state.steps > state.accounted  # a replayed step was counted by the attempt that died
        for comp in self._scoring(request.t, request.num_steps):
            keys = [self.keys[comp.name](o) for o in request.objects]
            hits_before = self.cache.hits
            found, missing = self.cache.lookup(self.labels[comp.name], keys)
            state.keys[comp.name], state.scores[comp.name] = keys, found
            first = first_objects(keys, request.objects)
            if comp.name in state.policies:
                missing = self._prescreen(state, request, comp.name, missing)
            size = self.settings[comp.name].chunk_size
            for start in range(0, len(missing), size):
                part = missing[start : start + size]
                chunk = Chunk(request.batch, comp.name, part, [first[k] for k in part], replay=state.attempt)
                self.queues[comp.name].append(chunk)
                state.outstanding += 1
            if first_time:
                state.cache_hits += self.cache.hits - hits_before
                state.calls[comp.name] = state.calls.get(comp.name, 0) + len(missing)
                self.totals["candidates_scored"] += len(keys)
            else:
                self.totals["replay_reward_calls"] += len(missing)
                self.totals["reward_calls"] += len(missing)
                self.totals["reward_calls_by_component"][comp.name] += len(missing)
        if state.outstanding == 0:
            self._resume(request.batch)

    def _policies(self, batch: int) -> dict[str, PrescreenPolicy]:
        """A fresh pre-screening policy of ``batch`` for each component with a surrogate."""
        seed = self.config.run.seed
        return {
            name: PrescreenPolicy(surrogate, self.settings[name].prescreen, seed=seed, batch=batch)
            for name, surrogate in self.surrogates.items()
        }

    def _prescreen(self, state: BatchState, request: NeedRewards, name: str, missing: list[str]) -> list[str]:
        """The keys of ``missing`` the batch's policy chose to score; the others take its guesses, even those
        the cache knows (see :class:`PrescreenPolicy`)."""
        final = request.t == 0
        choice = state.policies[name].choose(
            state.keys[name], request.objects, step=state.steps, final=final, chains=state.size
        )
        state.scores[name].update(choice.guesses)
        self.totals["screened_out" if final else "surrogate_values"] += len(choice.guesses)
        return [key for key in missing if key not in choice.guesses]

    def _replay(self, batch: int, err: BaseException) -> None:
        """Start ``batch`` again from its beginning; stop the run once it has failed too often."""
        state = self.batches[batch]
        self.totals["replays"] += 1
        if state.attempt >= self.config.resources.max_retries:
            where = self.executor.logs()
            raise RunFailed(
                f"batch {batch}: the denoiser failed {state.attempt + 1} times, last with: {last_line(err)}"
                + (f" (logs: {where})" if where else "")
                + "; finished batches are kept: run the same command again to resume"
            )
        for queue in self.queues.values():  # chunks not yet sent belong to the dead attempt
            kept = [c for c in queue if c.batch != batch]
            queue.clear()
            queue.extend(kept)
        state.accounted = max(state.accounted, state.steps)
        state.attempt += 1
        state.steps = state.outstanding = 0
        state.request, state.keys, state.scores, state.trace = None, {}, {}, []
        state.policies = self._policies(batch)
        self.progress({"kind": "replay", "batch": batch, "attempt": state.attempt, "error": last_line(err)})
        self.pending[self.executor.start(batch, state.size)] = Denoising(batch)

    def _stale(self, chunk: Chunk) -> bool:
        """Asked for by an attempt that was replayed since (or a batch already done)."""
        state = self.batches.get(chunk.batch)
        return state is None or chunk.replay != state.attempt

    def _record(self, chunk: Chunk, scores: list[float]) -> None:
        if self._stale(chunk):
            return  # its scores are in the cache for the replay; this attempt is gone
        state = self.batches[chunk.batch]
        state.scores[chunk.component].update(zip(chunk.keys, scores))
        state.outstanding -= 1
        if state.outstanding == 0:
            self._resume(chunk.batch)

    def _scoring(self, t: int, num_steps: int) -> list:
        """The reward components that score states at step ``t`` (their ``steps`` windows)."""
        return [c for c in self.components if c.scores_states_at(t, num_steps)]

    def _component_scores(self, state: BatchState, keys: dict[str, list[str]]) -> dict[str, np.ndarray]:
        return {c: np.array([state.scores[c].get(k, math.nan) for k in ks], dtype=np.float64) for c, ks in keys.items()}

    def _learn(self, state: BatchState) -> None:
        """Teach the batch's policies the scores of this request (the components that scored it)."""
        for name, policy in state.policies.items():
            if name in state.keys:
                policy.learn(state.keys[name], state.request.objects, state.scores[name])

    def _resume(self, batch: int) -> None:
        state = self.batches[batch]
        self._learn(state)
        scoring = self._scoring(state.request.t, state.request.num_steps)
        total = combine(scoring, self._component_scores(state, state.keys))
        valid = np.isfinite(total)
        best = float(total[valid].max()) if valid.any() else math.nan
        mean = float(total[valid].mean()) if valid.any() else math.nan
        state.trace.append((state.request.t, len(total), mean, best, float(valid.mean())))
        self.progress(
            {
                "kind": "step",
                "batch": batch,
                "t": state.request.t,
                "num_steps": state.request.num_steps,
                "best": best,
                "cache_hits": self.cache.hits,
                "cache_lookups": self.cache.hits + self.cache.misses,
            }
        )
        self.pending[self.executor.resume(batch, total)] = Denoising(batch)

    def _on_done(self, done: BatchDone) -> None:
        state = self.batches.pop(done.batch)
        final = self._scoring(0, 1)
        final_keys = {c.name: [self.keys[c.name](o) for o in done.objects] for c in final}
        parts = self._component_scores(state, final_keys)
        missing = np.full(len(done.objects), math.nan)  # a component that does not score final samples
        parts = {c.name: parts.get(c.name, missing) for c in self.components}
        run, n = self.config.run, len(done.objects)
        start = done.batch * self.config.run.batch_size
        wall = time.perf_counter() - state.started
        rows = {
            "run_id": [self.output.run_id] * n,
            "batch": [done.batch] * n,
            "index": list(range(start, start + n)),
            "method": [run.method] * n,
            "num_candidates": [run.num_candidates] * n,
            "alpha": [run.alpha] * n,
            "seed": [run.seed] * n,
            "object": [object_cell(o) for o in done.objects],
            "reward": done.rewards.tolist(),
            **{f"reward_{c}": v.tolist() for c, v in parts.items()},
            "invalid": (~np.isfinite(done.rewards)).tolist(),
            "value_calls": [done.value_calls] * n,
            "reward_calls": [state.reward_calls] * n,
            **{f"calls_{c.name}": [state.calls.get(c.name, 0)] * n for c in self.components},
            "cache_hits": [state.cache_hits] * n,
            "denoise_time_s": [done.denoise_s] * n,
            "wall_time_s": [wall] * n,
        }
        trace = None
        if self.config.run.trace and state.trace:
            t, size, mean, best, valid = zip(*state.trace)
            trace = {
                "batch": [done.batch] * len(t),
                "t": list(t),
                "candidates": list(size),
                "mean_value": list(mean),
                "best_value": list(best),
                "valid_fraction": list(valid),
            }
        self.output.write_batch(done.batch, rows, trace)
        self.cache.flush()
        self.totals["batches"] += 1
        self.totals["samples"] += n
        self.totals["invalid_samples"] += int((~np.isfinite(done.rewards)).sum())
        self.totals["reward_calls"] += state.reward_calls
        for name, calls in state.calls.items():
            self.totals["reward_calls_by_component"][name] += calls
        finite = done.rewards[np.isfinite(done.rewards)]
        self.progress(
            {
                "kind": "batch",
                "batch": done.batch,
                "samples": n,
                "reward_calls": state.reward_calls,
                "best": float(finite.max()) if len(finite) else math.nan,
                "hit_rate": self.cache.hit_rate,
            }
        )

    # ------------------------------------------------------------------ reward calls
    def _dispatch(self) -> None:
        for name, queue in self.queues.items():
            pool = self.executor.pools[name]
            while queue and pool.free_slots() > 0:
                chunk = queue.popleft()
                chunk.deadline = time.monotonic() + self.settings[name].timeout_s
                self.pending[pool.submit(chunk.objects)] = chunk

    def _wait_timeout(self) -> float | None:
        """Until the next reward deadline, and never more than a few seconds."""
        deadlines = [task.deadline for task in self.pending.values() if isinstance(task, Chunk)]
        return max(0.0, min([*deadlines, time.monotonic() + 5.0]) - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        for handle, task in list(self.pending.items()):
            if isinstance(task, Chunk) and task.deadline <= now:
                del self.pending[handle]
                self.executor.pools[task.component].abandon(handle)
                self.totals["timeouts"] += 1
                self._record(task, [math.nan] * len(task.keys))  # invalid, and not cached

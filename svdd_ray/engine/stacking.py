"""One model pass for the model calls of several batches: the denoiser side of continuous batching.

A denoiser actor advances the waiting steps of many batches in one call. :class:`StackedModel`
runs each batch's sampler in a thread of its own; a sampler's ``propose`` / ``predict_x0`` call
waits until every batch of the call is waiting for the model (or done), then one thread runs all
the waiting calls as one call of the model's stacked entry point (``propose_stacked(xs, ts,
generators)`` / ``predict_x0_stacked(xs, ts)``, see :mod:`svdd_ray.protocol`; a value network's
calls join through :meth:`StackedModel.stacked`), at most ``max_rows`` rows a pass. Each call
keeps its own rows, step and generator, so a batch draws the same numbers as alone: the samples
do not depend on how batches were grouped wherever the network computes a row the same way
whatever the pass's size (true on a CPU for the shipped priors when each call has 16 rows or
more, measured; GPU kernels may differ in the last bit between shapes). The threads take turns
like coroutines: only one runs at a time, so nothing in a sampler, a value or a model runs
concurrently with anything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from svdd_ray.protocol import DiffusionModel

#: The model calls that are stacked, each with its stacked entry point.
STACKED = {"propose": "propose_stacked", "predict_x0": "predict_x0_stacked"}
#: ``resources.max_rows_per_pass`` when the config leaves it out, by the denoiser's device type. On a CPU,
#: passes past a few hundred rows get slower per row (measured: ``benchmarks/denoiser_throughput.py``);
#: the GPU figure is a starting point, not a measurement (deploy/README.md: how to size it).
DEFAULT_ROWS_PER_PASS = {"cpu": 256, "cuda": 4096}


def default_rows_per_pass(device: torch.device | str) -> int:
    """The rows per pass for a denoiser on ``device`` when the config does not say."""
    return DEFAULT_ROWS_PER_PASS.get(torch.device(device).type, DEFAULT_ROWS_PER_PASS["cuda"])


@dataclass(eq=False)
class _Call:
    name: str
    args: tuple  # (x, t, ...): rows first
    result: Tensor | None = None
    error: BaseException | None = None
    done: bool = False

    @property
    def rows(self) -> int:
        return len(self.args[0])


@dataclass
class PassStats:
    """Model calls of the batches, the passes they ran in, and how many passes held each number of calls."""

    calls: int = 0
    passes: int = 0
    counts: dict = field(default_factory=dict)


def pass_totals(stats: list[PassStats]) -> dict[str, int]:
    """The run's totals of some denoisers' :class:`PassStats`."""
    return {"model_calls": sum(s.calls for s in stats), "model_passes": sum(s.passes for s in stats)}


def stacked_entry(model: object, name: str) -> Callable | None:
    """The model's stacked entry point for ``name``, if the class that defines ``name`` defines it too
    (a subclass that overrides ``predict_x0`` alone must not inherit a stacked version of its parent's)."""
    stacked = STACKED[name]
    for klass in type(model).__mro__:
        if name in vars(klass):
            return getattr(model, stacked) if stacked in vars(klass) else None
    return None


class StackedModel:
    """``model`` (every attribute passes through) whose ``propose`` and ``predict_x0`` calls, made by the
    tasks of :meth:`run_together`, run stacked; anywhere else they are the model's own calls. Other
    calls join with :meth:`stacked` (a value network's).

    ``max_rows`` caps the rows of one pass (calls are never split: a larger call runs alone); 0 runs
    every call alone, as the model's own method.
    """

    def __init__(self, model: DiffusionModel, max_rows: int) -> None:
        self.__dict__.update(
            _model=model,
            _max_rows=int(max_rows),
            pass_stats=PassStats(),
            _entries={name: (getattr(model, name), stacked_entry(model, name)) for name in STACKED},
            _cond=threading.Condition(threading.RLock()),
            _local=threading.local(),
            _live=0,
            _pending=[],
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_model"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._model, name, value)

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        return self._call("propose", x, t, generator)

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        return self._call("predict_x0", x, t)

    def stacked(self, name: str, alone: Callable[..., Tensor], together: Callable[..., list] | None) -> Callable:
        """``alone(x, t, ...)`` as a call that stacks like the model's: ``together`` takes a list per argument
        and returns each call's result (None: the calls run alone, in turn)."""
        self._entries[name] = (alone, together)
        return lambda *args: self._call(name, *args)

    def run_together(self, tasks: list[Callable[[], Any]]) -> list[tuple[Any, int]]:
        """Run the tasks together, each in its own thread, their model calls stacked; each task's result (or
        the exception it raised) and the model rows it asked for.

        The threads take turns, like coroutines: one runs at a time (it holds the lock) and hands over only
        while it waits for a pass, so samplers, values and models never run concurrently with each other.
        """
        if len(tasks) == 1 or self._max_rows == 0:
            return [self._member(task) for task in tasks]
        out: list = [None] * len(tasks)
        with self._cond:
            self.__dict__["_live"] = len(tasks)

        def work(i: int) -> None:
            with self._cond:  # reentrant: _call takes it again and waits on it
                try:
                    out[i] = self._member(tasks[i])
                finally:
                    self.__dict__["_live"] -= 1
                    self._run_if_all_waiting()

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(tasks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return out

    # ------------------------------------------------------------------ internals
    def _member(self, task: Callable[[], Any]) -> tuple[Any, int]:
        local = self._local
        local.member, local.rows = True, 0
        try:
            result = task()
        except Exception as err:  # noqa: BLE001 - one batch's failure is not the others'
            result = err
        finally:
            local.member = False
        return result, local.rows

    def _call(self, name: str, *args: Any) -> Tensor:
        call = _Call(name, args)
        local = self._local
        if not getattr(local, "member", False):
            return self._alone(call)
        local.rows += call.rows
        if self._live <= 1 or torch.is_grad_enabled():
            with self._cond:
                self._count([call])
                return self._alone(call)
        with self._cond:
            self._pending.append(call)
            self._run_if_all_waiting()
            while not call.done:
                self._cond.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _run_if_all_waiting(self) -> None:
        """With the lock held: once every live task waits for the model, run what they wait for."""
        if not self._pending or len(self._pending) < self._live:
            return
        calls, self.__dict__["_pending"] = self._pending, []
        try:
            for name in dict.fromkeys(c.name for c in calls):
                for group in self._passes([c for c in calls if c.name == name]):
                    self._run(name, group)
        finally:
            for call in calls:
                call.done = True
            self._cond.notify_all()

    def _passes(self, calls: list[_Call]) -> list[list[_Call]]:
        """Consecutive groups of calls of at most ``max_rows`` rows (a larger call alone)."""
        groups: list[list[_Call]] = []
        rows = 0
        for call in calls:
            if not groups or rows + call.rows > self._max_rows:
                groups.append([])
                rows = 0
            groups[-1].append(call)
            rows += call.rows
        return groups

    def _run(self, name: str, calls: list[_Call]) -> None:
        together = self._entries[name][1]
        if len(calls) > 1 and together is not None:
            generators = [a for c in calls for a in c.args if isinstance(a, torch.Generator)]
            states = [g.get_state() for g in generators]
            try:
                with torch.no_grad():
                    results = together(*[list(column) for column in zip(*(c.args for c in calls))])
                for call, result in zip(calls, results, strict=True):
                    call.result = result
                self._count(calls)
                return
            except Exception:  # noqa: BLE001 - run them one by one, so a failure lands on its own call
                for generator, state in zip(generators, states):
                    generator.set_state(state)  # as if the stacked pass never drew
        for call in calls:
            self._count([call])
            try:
                call.result = self._alone(call)
            except Exception as err:  # noqa: BLE001 - raised in the caller's thread
                call.error = err

    def _alone(self, call: _Call) -> Tensor:
        return self._entries[call.name][0](*call.args)

    def _count(self, calls: list[_Call]) -> None:
        stats = self.pass_stats
        stats.calls += len(calls)
        stats.passes += 1
        stats.counts[len(calls)] = stats.counts.get(len(calls), 0) + 1

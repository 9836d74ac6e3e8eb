"""Run plans: each method is a list of config overrides, each (method, seed) one run directory, run once and reused.

A :class:`Plan` names a config, a method table, seeds and sizes; :func:`run_plan` (or :func:`run_plans` for
several, spread over worker processes) runs what has no complete run directory yet (:func:`stale` names complete
ones made with other overrides), :func:`load_runs` reads a
method's runs back with :func:`svdd_ray.report.load_run`, :func:`calls_per_sample` counts the reward calls the
rows record and :func:`best_of_pool` reads nested best-of-N from one pool of pretrained samples.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from svdd_ray.engine.output import BATCH_FILE, identity
from svdd_ray.report import Run, load_run

__all__ = [
    "Plan",
    "is_complete",
    "stale",
    "totals",
    "run_plan",
    "run_plans",
    "timings",
    "load_runs",
    "pooled_runs",
    "calls_per_sample",
    "best_of_pool",
    "markdown",
]


@dataclass
class Plan:
    """What to run: ``methods`` (label -> overrides), seeds, samples per run; ``common`` overrides go to every run.

    ``sizes`` gives the samples of a method that differs from ``samples``; ``layout`` names a run directory
    (``{slug}``: the label made path-safe, ``{seed}``); ``backend`` is every run's ``resources.backend`` (None:
    the config's); ``timings``, when set, is a JSON file where each run made here records its times.
    """

    config: Path
    methods: Mapping[str, Sequence[str]]
    seeds: Sequence[int] = (0, 1, 2)
    samples: int = 64
    runs_dir: Path = Path("results")
    common: Sequence[str] = ()
    chosen: Sequence[str] | None = None  # the methods to run and report (default: all of ``methods``)
    sizes: Mapping[str, int] = field(default_factory=dict)
    layout: str = "{slug}_seed{seed}"
    backend: str | None = "local"
    timings: Path | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.chosen or () if m not in self.methods]
        if unknown:
            raise ValueError(f"unknown method {unknown[0]!r}: one of {', '.join(self.methods)}")

    @property
    def labels(self) -> list[str]:
        return list(self.chosen if self.chosen is not None else self.methods)

    def run_dir(self, method: str, seed: int) -> Path:
        slug = method.replace(" ", "_").replace("=", "").replace(",", "").replace("/", "_")
        return Path(self.runs_dir) / self.layout.format(slug=slug, seed=seed)

    def overrides(self, method: str, seed: int) -> list[str]:
        """The run's overrides: the common ones, then the method's (which win), then seed, size and place."""
        if method not in self.methods:
            raise ValueError(f"unknown method {method!r}: one of {', '.join(self.methods)}")
        return [
            "run.options={}",  # the config's own method options do not carry over to another method
            *self.common,
            *self.methods[method],
            f"run.seed={seed}",
            f"run.num_samples={self.sizes.get(method, self.samples)}",
            *([f"resources.backend={self.backend}"] if self.backend else []),
            f"run.output_dir={self.run_dir(method, seed)}",
        ]


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds a run whose manifest says it finished."""
    manifest = Path(path) / "_manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete"


def stale(plan: Plan) -> list[Path]:
    """The plan's complete run directories that hold a run of another config (other sizes or options): reusing
    them would report a run the plan does not describe."""
    from svdd_ray.config import load_config

    found = []
    for method, seed in ((m, s) for m in plan.labels for s in plan.seeds):
        path = plan.run_dir(method, seed)
        if is_complete(path):
            made = json.loads((path / "_manifest.json").read_text()).get("identity")
            if made != identity(load_config(plan.config, plan.overrides(method, seed))):
                found.append(path)
    return found


def totals(path: Path) -> dict:
    """The manifest's totals of a complete run; ``{}`` while it is unfinished (its batches still count)."""
    manifest = json.loads((Path(path) / "_manifest.json").read_text())
    return manifest.get("totals", {}) if manifest.get("status") == "complete" else {}


def has_batches(path: Path) -> bool:
    """Whether ``path`` is a directory holding at least one finished batch."""
    return Path(path).is_dir() and any(BATCH_FILE.match(p.name) for p in Path(path).iterdir())


def run_plan(plan: Plan, say: Callable[[str], None] = print, workers: int = 1) -> None:
    """Run every (method, seed) of ``plan`` without a complete run directory; an interrupted one resumes."""
    run_plans([plan], say, workers)


def run_plans(
    plans: Sequence[Plan],
    say: Callable[[str], None] = print,
    workers: int = 1,
    first: Callable[[Plan, str], float] | None = None,
) -> None:
    """:func:`run_plan` for several plans (a run directory that two plans share runs once); with ``workers`` > 1
    the runs are spread over that many processes (one torch thread each), the largest ``first(plan, method)``
    first."""
    todo = {}
    for job in ((p, m, s) for p in plans for m in p.labels for s in p.seeds):
        if not is_complete(job[0].run_dir(job[1], job[2])):
            todo.setdefault(job[0].run_dir(job[1], job[2]), job)
    jobs = sorted(todo.values(), key=lambda job: -first(job[0], job[1])) if first else list(todo.values())
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
            for job, times in zip(jobs, pool.map(_run_one, jobs)):
                _finished(*job, times, say)
        return
    for job in jobs:
        _finished(*job, _run_one(job), say)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _run_one(job: tuple[Plan, str, int]) -> dict | None:
    """One engine run of ``job`` (plan, method, seed); its wall and CPU seconds and the machine's load."""
    from svdd_ray import engine
    from svdd_ray.config import load_config

    plan, method, seed = job
    overrides = plan.overrides(method, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    _, totals = engine.run(load_config(plan.config, overrides))
    if totals.get("already_complete"):  # finished meanwhile (another process): its recorded times stand
        return None
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "driver_wall_s": totals.get("wall_time_s"),
        "load_avg_1m": os.getloadavg()[0],  # the machine is shared: how busy it was
        "overrides": overrides,
    }


def _finished(plan: Plan, method: str, seed: int, times: dict | None, say: Callable[[str], None]) -> None:
    if times is None:
        return
    say(f"{method} seed {seed}: {times['wall_s']:.0f} s ({plan.run_dir(method, seed)})")
    if plan.timings is not None:
        recorded = timings(plan)
        recorded[plan.run_dir(method, seed).name] = times
        Path(plan.timings).parent.mkdir(parents=True, exist_ok=True)
        Path(plan.timings).write_text(json.dumps(recorded, indent=2))


def timings(plan: Plan) -> dict[str, dict]:
    """Run directory name -> the times its run recorded (``plan.timings``; empty when there is none)."""
    path = plan.timings
    return json.loads(Path(path).read_text()) if path is not None and Path(path).is_file() else {}


def load_runs(plan: Plan, method: str) -> list[Run]:
    """The method's run directories that hold finished batches, in seed order."""
    return [load_run(plan.run_dir(method, seed)) for seed in plan.seeds if has_batches(plan.run_dir(method, seed))]


def pooled_runs(plan: Plan) -> Iterator[tuple[str, list[Run], pd.DataFrame]]:
    """Each method of ``plan`` that has runs: its label, its runs and their samples concatenated."""
    for method in plan.labels:
        runs = load_runs(plan, method)
        if runs:
            yield method, runs, pd.concat([run.samples for run in runs])


def calls_per_sample(runs: Sequence[Run]) -> float:
    """Reward calls per final sample, from the rows (each row holds its batch's calls), not the manifest's totals:
    those lose a killed part's counts when a run resumes."""
    calls = sum(int(run.samples.groupby("batch")["reward_calls"].first().sum()) for run in runs)
    samples = sum(len(run.samples) for run in runs)
    return calls / samples if samples else float("nan")


def best_of_pool(samples: pd.DataFrame, group: int, n: int) -> tuple[pd.DataFrame, float]:
    """Best-of-``n`` read from one pool of pretrained samples in groups of ``group`` (by index): the best of the
    first ``n`` of each group (invalid ones never win), and the reward calls per output that the run-wide cache
    makes of those (their distinct objects). The same seeds give nested N."""
    first = samples[samples["index"] % group < n]
    rewards = first["reward"].astype(float).fillna(-np.inf).to_numpy().reshape(-1, n)
    best = rewards.argmax(axis=1)
    chosen = samples.loc[first.index[np.arange(len(best)) * n + best]]
    return chosen, len(set(first["object"])) / len(best)


#: A column of :func:`markdown`: (key in the row, title, format string or function of the row, or None as is).
Column = tuple[str, str, "str | Callable[[Mapping], str] | None"]


def markdown(frame: pd.DataFrame, columns: Sequence[Column]) -> str:
    """A Markdown table of ``frame``'s rows in ``columns``; blank cells where a row lacks a value."""
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            if missing or fmt is None:
                cells.append("" if missing else str(value))
            else:
                cells.append(fmt(row) if callable(fmt) else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

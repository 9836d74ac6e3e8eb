"""Run plans: each method is a list of config overrides, each (method, seed) one run directory, run once and reused.

A :class:`Plan` names a config, a method table, seeds and sizes; :func:`run_plan` runs what has no complete
run directory yet (local backend, one process), :func:`load_runs` reads a method's runs back with
:func:`svdd_ray.report.load_run`, and :func:`calls_per_sample` counts the reward calls the rows record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from svdd_ray.report import Run, load_run

__all__ = ["Plan", "is_complete", "run_plan", "load_runs", "pooled_runs", "calls_per_sample", "markdown"]


@dataclass
class Plan:
    """What to run: ``methods`` (label -> overrides), seeds, samples per run; ``common`` overrides go to every run."""

    config: Path
    methods: Mapping[str, Sequence[str]]
    seeds: Sequence[int] = (0, 1, 2)
    samples: int = 64
    runs_dir: Path = Path("results")
    common: Sequence[str] = ()
    chosen: Sequence[str] | None = None  # the methods to run and report (default: all of ``methods``)

    def __post_init__(self) -> None:
        unknown = [m for m in self.chosen or () if m not in self.methods]
        if unknown:
            raise ValueError(f"unknown method {unknown[0]!r}: one of {', '.join(self.methods)}")

    @property
    def labels(self) -> list[str]:
        return list(self.chosen if self.chosen is not None else self.methods)

    def run_dir(self, method: str, seed: int) -> Path:
        slug = method.replace(" ", "_").replace("=", "").replace(",", "").replace("/", "_")
        return Path(self.runs_dir) / f"{slug}_seed{seed}"

    def overrides(self, method: str, seed: int) -> list[str]:
        if method not in self.methods:
            raise ValueError(f"unknown method {method!r}: one of {', '.join(self.methods)}")
        return [
            "run.options={}",  # the config's own method options do not carry over to another method
            *self.methods[method],
            *self.common,
            f"run.seed={seed}",
            f"run.num_samples={self.samples}",
            "resources.backend=local",
            f"run.output_dir={self.run_dir(method, seed)}",
        ]


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds a run whose manifest says it finished."""
    manifest = Path(path) / "_manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete"


def run_plan(plan: Plan, say: Callable[[str], None] = print) -> None:
    """Run every (method, seed) of ``plan`` without a complete run directory; an interrupted one resumes."""
    from svdd_ray import engine
    from svdd_ray.config import load_config

    for method in plan.labels:
        for seed in plan.seeds:
            if is_complete(plan.run_dir(method, seed)):
                continue
            began = time.perf_counter()
            engine.run(load_config(plan.config, plan.overrides(method, seed)))
            say(f"{method} seed {seed}: {time.perf_counter() - began:.0f} s")


def load_runs(plan: Plan, method: str) -> list[Run]:
    """The method's run directories that exist, in seed order."""
    return [load_run(plan.run_dir(method, seed)) for seed in plan.seeds if (plan.run_dir(method, seed)).is_dir()]


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

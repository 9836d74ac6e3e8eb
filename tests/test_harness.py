"""The experiments harness: overrides of a plan, run-or-reuse over worker processes, reading runs back."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import harness
from experiments.harness import Plan
from svdd_ray.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo_bitstrings.yaml"
METHODS = {"pretrained": ["run.method=pretrained", "run.num_candidates=1"], "svdd M=2": ["run.num_candidates=2"]}
COMMON = ["run.batch_size=4", "run.num_candidates=8", "run.trace=false", "model.options={length: 8, num_steps: 4}"]


def small_plan(tmp_path, **kw) -> Plan:
    return Plan(CONFIG, METHODS, [0], 4, tmp_path, COMMON, timings=tmp_path / "timings.json", **kw)


def test_a_methods_overrides_win_over_the_common_ones_and_sizes_layout_backend_apply(tmp_path):
    plan = small_plan(tmp_path, sizes={"pretrained": 8}, layout="x_{slug}", backend=None)
    config = load_config(plan.config, plan.overrides("svdd M=2", 3))
    assert config.run.num_candidates == 2 and config.run.batch_size == 4 and config.run.seed == 3
    assert config.resources.backend == "ray" and config.run.output_dir == str(tmp_path / "x_svdd_M2")
    assert load_config(plan.config, plan.overrides("pretrained", 0)).run.num_samples == 8


def test_runs_are_made_once_over_workers_with_their_times_and_read_back(tmp_path):
    plan = small_plan(tmp_path)
    said = []
    harness.run_plans([plan, small_plan(tmp_path)], said.append, workers=2)  # a directory shared by two plans
    assert len(said) == 2 and all(harness.is_complete(plan.run_dir(m, 0)) for m in METHODS)
    times = harness.timings(plan)
    assert set(times) == {"pretrained_seed0", "svdd_M2_seed0"} and all(t["cpu_s"] >= 0 for t in times.values())
    harness.run_plan(plan, said.append)  # complete: reused
    assert len(said) == 2 and harness.timings(plan) == times
    (run,) = harness.load_runs(plan, "svdd M=2")
    assert run.samples["index"].tolist() == [0, 1, 2, 3] and harness.calls_per_sample([run]) > 0
    assert harness.totals(run.path)["samples"] == 4


def test_a_run_directory_without_batches_is_not_read(tmp_path):
    plan = small_plan(tmp_path)
    plan.run_dir("pretrained", 0).mkdir()
    (plan.run_dir("pretrained", 0) / "_manifest.json").write_text(json.dumps({"status": "running"}))
    assert harness.load_runs(plan, "pretrained") == [] and list(harness.pooled_runs(plan)) == []


def test_best_of_pool_reads_nested_groups_and_counts_distinct_objects():
    rewards = [1.0, 3.0, np.nan, 2.0, 5.0, 4.0, 9.0, 0.0]  # two groups of 4
    frame = pd.DataFrame({"index": range(8), "reward": rewards, "object": list("abcaeeeh")})
    chosen, calls = harness.best_of_pool(frame, 4, 2)
    assert chosen["index"].tolist() == [1, 4] and calls == 3 / 2  # a, b | e, e: one cache over the pool
    chosen, calls = harness.best_of_pool(frame, 4, 4)
    assert chosen["index"].tolist() == [1, 6] and calls == 5 / 2  # nan never wins


def test_stale_names_complete_runs_made_with_other_overrides(tmp_path):
    harness.run_plan(small_plan(tmp_path), print)
    assert harness.stale(small_plan(tmp_path)) == []
    assert harness.stale(small_plan(tmp_path, sizes={"svdd M=2": 8})) == [tmp_path / "svdd_M2_seed0"]

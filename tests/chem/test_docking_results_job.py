"""The docking results job's bookkeeping (:mod:`experiments.docking_results`): configs it builds, best-of-N
from the pool, calls and the goal line."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import docking_results as job
from experiments.harness import is_complete
from svdd_ray.config import load_config
from svdd_ray.engine.runner import build_model
from svdd_ray.report import load_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("method", ["pool", "plan", "prescreen", "prescreen_small", "surrogate", "late", "smc", "svdd",
                                    "prescreen_wide", "screened_refine"])  # fmt: skip
def test_every_method_builds_a_valid_config(method, tmp_path):
    plan = job.plan("JAK2", 8, 1234, tmp_path)
    config = load_config(plan.config, plan.overrides(method, 0))
    assert config.reward.cache_file is None and config.run.seed == 0
    assert config.run.output_dir == str(tmp_path / f"JAK2_{method}")
    if method == "pool":
        assert config.run.num_samples == 8 * job.POOL and config.run.batch_size == job.POOL
    if method == "plan":
        fast, full = config.reward.components
        assert (fast.name, full.name) == ("docking_fast", "docking")
        assert fast.options["max_evals"] == 1234 and full.options["max_evals"] == 0
        assert fast.options["target"] == full.options["target"] == "JAK2"
        steps = build_model(config).num_steps
        # the capped dock values every intermediate state, the full dock only x_0 (the final candidates)
        assert all(fast.scores_states_at(t, steps) and not full.scores_states_at(t, steps) for t in range(1, steps + 1))
        assert full.scores_states_at(0, steps) and not fast.scores_states_at(0, steps)
    if method in ("surrogate", "late"):
        cheap, full = config.reward.components
        assert cheap.target == "surrogate" and full.options == job.dock_options("JAK2")
        start = 0.95 if method == "surrogate" else job.LATE_FULL
        assert (ROOT / cheap.options["weights"]).is_file() and cheap.steps == [0.0, start] and full.steps == [start, 1]
    if method in ("prescreen", "prescreen_small"):
        (dock,) = config.reward.components
        assert config.run.method == "best_of_n" and config.run.num_candidates == job.PRESCREEN_N
        assert dock.prescreen.final and dock.prescreen.keep * job.PRESCREEN_N == job.PRESCREEN_DOCKED
        assert (ROOT / dock.prescreen.surrogate.options["weights"]).is_file()  # the committed surrogate
    if method == "prescreen_wide":  # the same 4 docks per molecule, from 128 candidates
        (dock,) = config.reward.components
        assert config.run.num_candidates == job.PRESCREEN_WIDE and dock.prescreen.final
        assert dock.prescreen.keep * job.PRESCREEN_WIDE == job.PRESCREEN_DOCKED
    if method == "screened_refine":  # 3 docks on the elites' candidates and 1 on the round's copies
        (dock,) = config.reward.components
        assert config.run.method == "refine" and config.run.options["rounds"] == 1 and dock.prescreen.final
        scored = dock.prescreen.keep * (config.run.options["init"] + config.run.num_candidates)
        assert scored == job.PRESCREEN_DOCKED


def test_the_committed_surrogates_load_and_rank_by_their_training_scores():
    from svdd_ray.chem.surrogates import morgan_ridge

    for target in job.CONFIGS:
        surrogate = morgan_ridge(weights=str(ROOT / job.surrogate_path(target)))
        pool = load_run(ROOT / "results" / "docking" / f"{target}_pool").samples.dropna(subset=["reward"]).head(100)
        rho = pd.Series(surrogate.predict(pool["object"].tolist())).corr(pool["reward"].reset_index(drop=True))
        assert rho > 0.5, target  # fitted on these molecules: a check that the file is the one described


def test_size_columns_give_heavy_atoms_and_ligand_efficiency():
    frame = pd.DataFrame({"object": ["CCO", "c1ccccc1", "CC"], "reward": [3.0, 6.0, np.nan]})
    assert job.size_columns(frame) == {"heavy atoms": 4.5, "LE": 1.0}


def test_best_of_n_comes_from_nested_groups_of_the_pool():
    rewards = np.arange(4 * job.POOL, dtype=float)[::-1].copy()  # falling within each group: the first is best
    rewards[job.POOL + 3] = 100.0  # group 1's best among its first 4 (and 8), not among its first 2
    rewards[2] = np.nan  # invalid molecules never win
    objects = [f"C{i % 5}" for i in range(4 * job.POOL)]  # repeats: calls count distinct molecules
    frame = pd.DataFrame({"index": range(4 * job.POOL), "reward": rewards, "object": objects, "batch": 0})
    rows = {r["method"]: r for r in job.pool_rows(frame, {"wall_time_s": 80.0})}
    assert list(rows) == ["pretrained", "best-of-2", "best-of-4", "best-of-8"]
    assert rows["pretrained"]["frame"]["index"].tolist() == [0, 8, 16, 24]
    assert rows["best-of-2"]["frame"]["index"].tolist() == [0, 8, 16, 24]
    assert rows["best-of-4"]["frame"]["index"].tolist() == [0, 11, 16, 24]
    assert rows["pretrained"]["calls"]["docking"] == len({"C0", "C3", "C1", "C4"}) / 4
    assert rows["best-of-8"]["calls"]["docking"] == 5 / 4 and rows["best-of-8"]["wall_s"] == 80.0 / 4
    assert rows["best-of-2"]["wall_s"] == 80.0 * 2 / job.POOL / 4


def test_calls_per_molecule_reads_the_component_columns():
    frame = pd.DataFrame(
        {
            "batch": [0, 0, 1, 1],
            "calls_docking": [3, 3, 1, 1],
            "calls_docking_fast": [20, 20, 10, 10],
            "reward_calls": 0,
        }
    )
    assert job.calls_per_molecule(frame) == {"docking": 1.0, "docking_fast": 7.5}
    legacy = pd.DataFrame({"batch": [0, 0, 1], "reward_calls": [10, 10, 5]})
    assert job.calls_per_molecule(legacy) == {"docking": 5.0}


def test_goal_line_states_whether_a_plan_meets_the_goal():
    summary = pd.DataFrame(
        {
            "method": ["SVDD-PM", "plan"],
            "median": [9.0, 9.1],
            "full docks": [20.0, 1.0],
            "docking CPU-s (est.)": [40.0, 10.0],
        }
    )
    line = job.goal_line(summary, "plan")
    assert line.startswith("Docking goal, plan (met)")
    assert "5% of its full docks" in line and "25% of its estimated" in line
    summary.loc[1, "docking CPU-s (est.)"] = 20.0
    assert job.goal_line(summary, "plan").startswith("Docking goal, plan (met in full docks, not in CPU-seconds)")
    summary.loc[1, "median"] = 8.9
    assert job.goal_line(summary, "plan").startswith("Docking goal, plan (not met)")
    assert job.goal_line(summary, job.PLANS[1]) == ""  # a plan not in the table


def test_the_surrogate_line_counts_its_fitting_docks_and_training_overlap():
    pool = load_run(ROOT / "results" / "docking" / "PARP1_pool").samples
    rows = json.loads(str(np.load(ROOT / job.surrogate_path("PARP1"))["meta"]))["rows"]
    summary = pd.DataFrame({"method": ["SVDD-PM", job.PLANS[1]], "full docks": [20.0, 4.0], "n": [64, 64]})
    line = job.surrogate_line("PARP1", {job.PLANS[1]: pool.head(3)}, summary)
    assert f"fitted on {rows} docked molecules" in line
    assert f"{job.PLANS[1]} 3 of 3" in line  # the pool's own molecules were its training set
    total = 4.0 + rows / 64
    assert f"spends {total:.1f} full docks per molecule ({total / 20:.0%} of SVDD-PM's)" in line
    assert f"within 25% from {rows} molecules per target on" in line  # budget 0.25 * 20 - 4 = 1 dock per molecule
    summary.loc[1, "full docks"] = 6.0
    assert job.surrogate_line("PARP1", {job.PLANS[1]: pool.head(3)}, summary).endswith("it never gets within 25%.")


def test_the_small_surrogate_is_measured_on_the_molecules_it_was_not_fitted_on():
    summary = pd.DataFrame({"method": ["SVDD-PM", job.PLANS[4]], "full docks": [20.0, 4.0], "n": [64, 64]})
    line = job.surrogate_line("PARP1", {}, summary, job.SMALL_SURROGATE)
    assert f"fitted on {job.SMALL_SURROGATE} docked molecules" in line and "on the other 434 molecules" in line
    assert f"within 25% from {job.SMALL_SURROGATE} molecules per target on" in line


def test_the_plan_finds_the_committed_runs():
    for target in job.CONFIGS:
        plan = job.plan(target, 64, 100000, ROOT / "results" / "docking")
        found = [m for m in plan.labels if is_complete(plan.run_dir(m, 0))]
        assert "pool" in found and "svdd" in found and len(found) >= 8, target

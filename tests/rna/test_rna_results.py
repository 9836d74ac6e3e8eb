"""The RNA results plan (:mod:`experiments.rna_results`): valid configs per point, runs reused, the page rendered."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("RNA")

from experiments import rna_results as rna  # noqa: E402
from experiments.harness import is_complete, run_plans  # noqa: E402
from svdd_ray.config import load_config  # noqa: E402


@pytest.mark.parametrize("target", ["hairpin30", "stability"])
def test_every_point_builds_a_valid_config(target, tmp_path):
    plan = rna.plan(target, 16, 8, 0, tmp_path)
    length = rna.length_of(target)
    steps = rna.steps_for(length)
    assert plan.labels[0] == "pool" and set(plan.labels[1:]) == set(rna.points(target))
    for name in plan.labels:
        config = load_config(plan.config, plan.overrides(name, 0))
        assert config.resources.backend == "local" and not config.run.trace and config.run.seed == 0
        assert config.model.options["length"] == length and config.model.options["num_steps"] == steps
        if target != "stability":
            assert config.reward.components[0].options["target"] == target
        if name == "pool":
            assert (config.run.num_samples, config.run.batch_size) == (16 * 8 * steps, rna.POOL_BATCH)
            continue
        method, factor, alpha_s, alpha_e, _, completion = rna.points(target)[name]
        assert (config.run.method, config.run.num_candidates) == (method, 8 * factor)
        assert config.run.alpha == (alpha_e if target == "stability" else alpha_s)
        assert config.model.options["completion"] == completion and config.run.num_samples == 16
    assert "beam" not in rna.points("stability") and "SVDD-PM (argmax)" not in rna.points("hairpin30", False)


def test_the_longest_runs_go_first():
    plans = [rna.plan("hairpin30", 4, 2, 0, "runs"), rna.plan("stability", 4, 2, 0, "runs")]
    assert rna.cost(plans[1], "SVDD-PM 4M, every 4") > rna.cost(plans[1], "pool") > rna.cost(plans[0], "pool")


def test_a_small_run_is_made_once_and_rendered(tmp_path, capsys):
    plans = [rna.plan(t, 2, 2, 0, tmp_path, ablation=False) for t in ("hairpin30", "stability")]
    run_plans(plans)
    rna.run_inverses(plans)
    assert all(is_complete(p.run_dir(m, 0)) for p in plans for m in p.labels)
    record = rna.collect(plans, 2, seed=0, workers=1, wall_s=1.0, load_average=0.5)
    made = (tmp_path / "n2_m2" / "hairpin30" / "timings.json").read_text()
    run_plans(plans)  # complete: nothing runs again, and the record is the same
    rna.run_inverses(plans)
    assert (tmp_path / "n2_m2" / "hairpin30" / "timings.json").read_text() == made
    assert json.dumps(rna.collect(plans, 2, seed=0, workers=1, wall_s=1.0, load_average=0.5)) == json.dumps(record)
    hairpin, stability = record["sections"]
    rows = {row["method"]: row for row in hairpin["rows"]}
    assert list(rows) == ["pretrained", "best-of-2", "best-of-30", *rna.GUIDED, "RNAinverse"]
    assert rows["pretrained"]["n"] == 2 and rows["best-of-30"]["folds_per_design"] <= 30
    assert rows["SVDD-PM"]["matched_best_of_n"]["method"].startswith("best-of-")
    assert [r["method"] for r in stability["rows"]][-1] == "refine"
    rna.write_outputs(json.loads(json.dumps(record)), tmp_path / "page")
    md = (tmp_path / "page.md").read_text()
    for part in ("## Summary: structure targets", "## hairpin30 (30 nt, T = 15)", "## Stability", "## Reading"):
        assert part in md
    assert "| best-of-2 (matched to SVDD-PM) |" in md or "(matched to SVDD-PM) |" in md
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"

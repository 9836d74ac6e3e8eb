"""The DNA results plan: every method's overrides make a valid run config; the table renders."""

import re

import numpy as np
import pandas as pd
import pytest

from experiments import dna_results as results
from experiments.dna_results import METHODS, DnaPlan, markdown
from svdd_ray.config import load_config


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_is_a_valid_config(method, tmp_path, monkeypatch):
    plan = DnaPlan(samples=8, steps=5, runs_dir=tmp_path)
    if "value.kind=mc" in METHODS[method]:
        monkeypatch.setattr(results, "VALUE_NET", tmp_path / "missing.pt")
        with pytest.raises(ValueError, match=r"missing\.pt is missing; train it with python jobs/train_value\.py"):
            plan.overrides(method, seed=2)
        if not results.VALUE_NET.is_file():
            return
        monkeypatch.undo()
    config = load_config(plan.config, plan.overrides(method, seed=2))
    assert config.run.seed == 2 and config.run.num_samples == 8
    assert config.model.options["num_steps"] == 5 and config.resources.backend == "local"
    assert str(config.run.output_dir).startswith(str(tmp_path))


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'svdd M=3'"):
        DnaPlan().overrides("svdd M=3", 0)


def test_markdown_leaves_missing_cells_blank():
    frame = pd.DataFrame([{"method": "a", "n": 3, "oracle_median": 1.234}, {"method": "b", "kmer6_r": np.nan}])
    lines = markdown(frame).splitlines()
    assert lines[2].startswith("| a | 3 |") and "1.23" in lines[2]
    assert lines[3].startswith("| b |") and "nan" not in lines[3]


@pytest.mark.dna_data
def test_the_results_job_end_to_end_at_a_tiny_size(tmp_path, monkeypatch, load_job):
    """Runs two methods through the engine, judges them with the oracle and writes the table and plot."""
    monkeypatch.delenv("SVDD_RAY_DNA_SITES", raising=False)
    job = load_job("dna_results")
    argv = ["--seeds", "0", "--samples", "4", "--steps", "3", "--runs", str(tmp_path / "runs")]
    argv += ["--reference-rows", "40"]
    assert job.main([*argv, "--out", str(tmp_path / "docs"), "--methods", "pretrained", "svdd M=2"]) == 0
    text = (tmp_path / "docs" / "dna_results.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[1:]] == [
        "| pretrained",
        "| svdd M=2",
        "| natural HepG2 (test, chr1)",
        "| natural HepG2, top 10% by oracle",
    ]
    pretrained = rows[1].split(" | ")
    assert pretrained[1:5] == ["4", "1", "1", "1.0"]  # designs, seeds, M, one reward call per design
    assert re.fullmatch(r"-?\d+\.\d\d to -?\d+\.\d\d", pretrained[8])  # the oracle median's bootstrap interval
    assert (tmp_path / "docs" / "dna_tradeoff.png").stat().st_size > 1000
    assert (tmp_path / "docs" / "dna_front.png").stat().st_size > 1000
    page = tmp_path / "docs" / "dna_results.md"
    page.write_text(text + "\n## What the table says\n\nA reading by hand.\n")
    assert job.main([*argv, "--no-run", "--out", str(tmp_path / "docs"), "--methods", "pretrained", "svdd M=2"]) == 0
    assert page.read_text().endswith("\n## What the table says\n\nA reading by hand.\n")  # kept on a rewrite
    assert page.read_text().count("## What the table says") == 1

"""`svdd-ray report` on a DNA run: the held-out oracle's scores and the NLL under the prior, per method."""

import numpy as np
import pandas as pd
import pytest

from svdd_ray import engine
from svdd_ray.cli import main
from svdd_ray.config import load_config

TINY = [
    "run.num_samples=4",
    "run.batch_size=4",
    "model.options={num_steps: 3}",
    "resources.backend=local",
]
METHODS = {
    "pre": ["run.method=pretrained", "run.num_candidates=1", "run.options={}"],
    "bon": ["run.method=best_of_n", "run.num_candidates=2", "run.options={}"],
}


@pytest.fixture(scope="module")
def dna_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dna_runs")
    for name, overrides in METHODS.items():
        engine.run(load_config("configs/dna_hepg2.yaml", [*TINY, *overrides, f"run.output_dir={root / name}"]))
    return root


def test_dna_report_has_oracle_scores_and_nll_per_method(dna_runs, tmp_path, capsys):
    from svdd_ray.dna.data import encode
    from svdd_ray.dna.domain import NLL_DRAWS
    from svdd_ray.dna.metrics import prior_nll
    from svdd_ray.dna.prior import load_prior
    from svdd_ray.dna.rewards import HepG2Oracle

    out = tmp_path / "report"
    assert main(["report", str(dna_runs / "pre"), str(dna_runs / "bon"), "--out", str(out), "--no-novelty"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary.method.tolist() == ["pretrained", "best_of_n"]
    for name, row in zip(METHODS, summary.itertuples()):
        sequences = pd.read_parquet(dna_runs / name).sort_values("index")["object"].tolist()
        oracle = np.asarray(HepG2Oracle()(sequences))
        assert row.oracle_median == pytest.approx(np.median(oracle), abs=1e-4)
        assert row.oracle_p90 == pytest.approx(np.quantile(oracle, 0.9), abs=1e-4)
        nll = prior_nll(load_prior(), encode(sequences), draws=NLL_DRAWS)
        assert row.prior_nll == pytest.approx(nll, rel=1e-4) and 0.5 < row.prior_nll < 2.5
    header = (out / "summary.md").read_text().splitlines()[4]
    assert "oracle_median" in header and "oracle_p90" in header and "prior_nll" in header


def test_without_the_checkpoints_the_columns_are_left_out_with_one_line(monkeypatch, tmp_path, capsys):
    from svdd_ray.dna import domain as dna_domain
    from svdd_ray.domains import load_domain

    monkeypatch.setenv("SVDD_RAY_DNA_CHECKPOINTS", str(tmp_path / "none"))
    monkeypatch.setattr(dna_domain, "_MISSING_NOTED", set())
    designs = ["ACGT" * 50, "TTGA" * 50]
    row = load_domain("dna").metrics(designs)
    assert "oracle_median" not in row and "prior_nll" not in row and "gc" in row
    load_domain("dna").metrics(designs)  # noted once
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no oracle_median / prior_nll columns" in err[0] and str(tmp_path / "none") in err[0]

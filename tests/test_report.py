"""Reports rendered from small runs made here; numbers checked against the Parquet data."""

import numpy as np
import pandas as pd
import pytest
from engine_helpers import component, small_config

from svdd_ray import engine
from svdd_ray.cli import main
from svdd_ray.config import Config, from_dict
from svdd_ray.engine.output import RunOutput, encode_png
from svdd_ray.report import RunDirError, load_run, write_report


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    engine.run(small_config(root / "svdd_m4", trace=True))
    engine.run(
        small_config(
            root / "bon_m2",
            method="best_of_n",
            num_candidates=2,
            rewards=[component("ones"), component("sleepy_ones", options={"latency_s": 0.0})],
        )
    )
    return root


def test_summary_numbers_match_the_parquet_data(two_runs, tmp_path):
    out = write_report([two_runs / "svdd_m4", two_runs / "bon_m2"], tmp_path / "report")
    summary = pd.read_csv(out / "summary.csv")
    for name in ("svdd_m4", "bon_m2"):
        data = pd.read_parquet(two_runs / name)
        row = summary[summary.run == name].iloc[0]
        valid = data.reward[~data.invalid].to_numpy()
        assert row.n == len(data)
        assert np.isclose(row.reward_median, np.median(valid))
        assert np.isclose(row.reward_p90, np.quantile(valid, 0.9))
        assert np.isclose(row.reward_p99, np.quantile(valid, 0.99))
        assert row.reward_calls == data.groupby("batch").reward_calls.first().sum()
    assert set(summary.M) == {4, 2}
    md = (out / "summary.md").read_text()
    assert "| svdd_m4 | svdd | 4 |" in md and "![reward_vs_m](reward_vs_m.png)" in md
    for png in ("reward_distributions.png", "reward_vs_m.png", "value_trace.png", "reward_vs_time.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "<table" in (out / "summary.html").read_text()


def fake_run(path, objects, rewards, domain) -> None:
    """A run directory written through the engine's own writer, with given objects of a given domain."""
    run = {"output_dir": str(path), "num_samples": len(objects), "batch_size": len(objects)}
    config = from_dict(Config, {"run": run, "model": {"domain": domain}}, "config")
    output = RunOutput(config)
    output.open()
    n = len(objects)
    rows = {
        "run_id": [output.run_id] * n,
        "batch": [0] * n,
        "index": list(range(n)),
        "method": ["svdd"] * n,
        "num_candidates": [4] * n,
        "alpha": [0.0] * n,
        "seed": [0] * n,
        "object": objects,
        "reward": rewards,
        "invalid": [not np.isfinite(r) for r in rewards],
        "value_calls": [1] * n,
        "reward_calls": [n] * n,
        "cache_hits": [0] * n,
        "denoise_time_s": [0.1] * n,
        "wall_time_s": [1.0] * n,
    }
    output.write_batch(0, rows)
    output.finish({"wall_time_s": 1.0, "cache_hit_rate": 0.0})


def test_molecule_runs_get_chemistry_metrics_and_a_grid(tmp_path):
    pytest.importorskip("rdkit")
    smiles = ["CCO", "CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN"]
    fake_run(tmp_path / "mols", smiles, [0.1, 0.1, 0.5, 0.9, float("nan")], "molecules")
    out = write_report([tmp_path / "mols"], tmp_path / "report", references={"molecules": {"CCO"}})
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert row.validity == 1.0 and np.isclose(row.uniqueness, 4 / 5)
    assert np.isclose(row.novelty, 3 / 4)  # of the unique valid molecules, CCO is in the reference
    assert 0 < row.internal_diversity <= 1
    assert np.isclose(row.invalid_fraction, 0.2)
    assert (out / "top_0_mols.png").stat().st_size > 1000


def test_image_runs_get_a_grid(tmp_path):
    images = [encode_png(np.full((8, 8), v, dtype=np.uint8)) for v in (0, 64, 128, 255)]
    fake_run(tmp_path / "imgs", images, [0.0, 1.0, 2.0, 3.0], "digits")
    out = write_report([tmp_path / "imgs"], tmp_path / "report")
    assert (out / "top_0_imgs.png").read_bytes()[:4] == b"\x89PNG"


def test_runs_with_different_columns_compare(tmp_path, two_runs):
    pytest.importorskip("rdkit")
    fake_run(tmp_path / "mols", ["CCO", "CCN"], [0.2, 0.3], "molecules")
    out = write_report([two_runs / "svdd_m4", tmp_path / "mols"], tmp_path / "report", novelty=False)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.validity.isna().tolist() == [True, False]


def test_empty_and_half_written_directories_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="not a svdd_ray run"):
        load_run(tmp_path / "empty")
    run_dir = tmp_path / "started"
    RunOutput(small_config(run_dir)).open()  # a manifest, no batch yet
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("the run has no finished batches yet") and len(err.splitlines()) == 1
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_an_out_that_cannot_take_the_report_is_one_line_exit_2(two_runs, tmp_path, capsys):
    import os
    import re

    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [(taken, "exists and is not a directory"), (taken / "report", "cannot write the report there")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((locked / "report", "cannot write the report there"))
    for out, message in cases:
        with pytest.raises(RunDirError, match=re.escape(f"--out {out}: {message}")):
            write_report([two_runs / "svdd_m4"], out)
        assert main(["report", str(two_runs / "svdd_m4"), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"--out {out}" in err, err
    assert taken.read_text() == "keep me" and list(locked.iterdir()) == []
    locked.chmod(0o700)

"""jobs/fit_surrogate.py: a frozen surrogate from earlier runs' rewards, and its refusals."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svdd_ray.demo import ones
from svdd_ray.surrogates import onehot_ridge


@pytest.fixture(scope="module")
def job(load_job):
    return load_job("fit_surrogate")


def a_run(path: Path, n: int = 120) -> Path:
    """A run directory holding one Parquet batch of random bitstrings with their ``ones`` reward."""
    rng = np.random.default_rng(0)
    strings = ["".join(rng.choice(list("01"), 16)) for _ in range(n)]
    rewards = ones(strings)
    rewards[0] = float("nan")  # an invalid sample is left out
    path.mkdir()
    pd.DataFrame({"object": strings, "reward": rewards}).to_parquet(path / "batch-000000.parquet")
    return path


def test_fits_saves_and_reports_the_cross_validated_rank_correlation(job, tmp_path, capsys):
    run = a_run(tmp_path / "run")
    out = tmp_path / "surrogates" / "ones.npz"
    options = ["--kind", "onehot_ridge", "--alphabet", "01", "--l2", "0.1", "--sizes", "10", "100", "--held-out", "30"]
    job.main(["--runs", str(run), "--out", str(out), *options])
    printed = capsys.readouterr().out
    assert "fitted on 10: Spearman" in printed and "fitted on 100: skipped, only 119 rows for 30 held out" in printed
    assert "onehot_ridge on" in printed and "5-fold Spearman 0.9" in printed  # a linear reward: near-perfect
    frozen = onehot_ridge("01", weights=str(out))
    strings = pd.read_parquet(run)["object"].tolist()[1:21]
    assert np.corrcoef(frozen.predict(strings), ones(strings))[0, 1] > 0.95
    meta = np.load(out)["meta"]
    assert '"rows": ' in str(meta) and '"runs": ' in str(meta)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", r"--runs: .*absent: not found"),
        ("no_reward", r"--runs: .*: no column 'reward' \(not an svdd_ray run\)"),
        ("few", r"--runs: 5 scored objects; a surrogate needs at least 10"),
    ],
)
def test_bad_runs_are_refused_with_one_line_and_nothing_written(job, tmp_path, setup, message):
    run = tmp_path / "absent"
    if setup == "no_reward":
        run = tmp_path / "plain"
        run.mkdir()
        pd.DataFrame({"object": ["0101"]}).to_parquet(run / "batch-000000.parquet")
    if setup == "few":
        run = a_run(tmp_path / "few", n=6)
    out = tmp_path / "out.npz"
    with pytest.raises(SystemExit, match=message):
        job.main(["--runs", str(run), "--out", str(out), "--kind", "onehot_ridge", "--alphabet", "01"])
    assert not out.exists()


def test_fitting_on_the_first_rows_tests_on_the_others(job, tmp_path, capsys):
    run = a_run(tmp_path / "run")
    out = tmp_path / "first.npz"
    job.main(["--runs", str(run), "--out", str(out), "--kind", "onehot_ridge", "--alphabet", "01", "--first", "60"])
    assert "Spearman on the runs' other 59 scored objects: 0.9" in capsys.readouterr().out
    meta = str(np.load(out)["meta"])
    assert '"rows": 60' in meta and '"held_out_rows": 59' in meta
    with pytest.raises(SystemExit):
        job.main(["--runs", str(run), "--out", str(tmp_path / "few.npz"), "--first", "5"])
    assert not (tmp_path / "few.npz").exists()

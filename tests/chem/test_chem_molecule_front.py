"""The molecule front plan: every method is a valid config within its budget; the job runs end to end."""

import re

import pytest

from experiments import molecule_front as front
from svdd_ray.config import load_config


@pytest.mark.parametrize("reward", sorted(front.REWARDS))
def test_every_method_is_a_valid_config(reward, tmp_path):
    plan = front.plan(reward, tmp_path, seeds=[3], samples=8)
    for label in plan.labels:
        config = load_config(plan.config, plan.overrides(label, 3))
        assert config.run.seed == 3 and config.run.num_samples == 8 and config.resources.backend == "local"
        assert str(config.run.output_dir).startswith(str(tmp_path / reward))
        screen = config.reward.components[0].prescreen
        assert (screen is not None) == label.startswith("screened")


def test_budgets_are_the_calls_the_labels_promise(tmp_path):
    """At most N + M x R calls for refinement; screened methods score a quarter of each chain's candidates."""
    table = front.methods(tmp_path / "s.npz")
    for label in table:
        numbers = [int(n) for n in re.findall(r"\d+", label)]
        if label.startswith("refine"):
            init, rounds, copies = numbers
            assert init + rounds * copies in front.BUDGETS
        elif label.startswith("screened refine"):
            init, rounds, copies = numbers
            assert front.SCREEN_KEEP * (init + rounds * copies) in front.BUDGETS and rounds == 1
        elif label.startswith("screened best-of"):
            assert front.SCREEN_KEEP * numbers[0] in front.BUDGETS


def test_unknown_reward_and_method_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown reward 'logp'"):
        front.plan("logp", tmp_path)
    with pytest.raises(ValueError, match="unknown method 'best-of-3'"):
        front.plan("qed", tmp_path, chosen=["best-of-3"])


def test_the_job_end_to_end_at_a_tiny_size(tmp_path, monkeypatch, load_job):
    """Pretrained, best-of-4 and a screened method (its surrogate fitted on a small pool) on QED; the page renders
    with the calls the runs made and keeps a hand-written reading when rewritten."""
    monkeypatch.setattr(front, "POOL_SAMPLES", 24)
    job = load_job("molecule_front")
    out, runs = tmp_path / "docs", tmp_path / "runs"
    argv = ["--rewards", "qed", "--seeds", "0", "--samples", "4", "--runs", str(runs), "--out", str(out), "--no-fcd"]
    methods = ["--methods", "pretrained", "best-of-4", "screened best-of-16"]
    assert job.main(argv + methods) == 0
    page = out / "molecule_front.md"
    rows = {
        line.split(" | ")[0][2:]: line.split(" | ") for line in page.read_text().splitlines() if line.startswith("| ")
    }
    assert set(rows) == {"method", "pretrained", "best-of-4", "screened best-of-16"}
    assert rows["pretrained"][1:3] == ["1", "1.0"]  # M, calls per molecule
    assert rows["pretrained"][7] == "4" and "{" not in page.read_text()  # n; every template filled
    assert float(rows["best-of-4"][2]) <= 4.0 and float(rows["screened best-of-16"][2]) <= 4.0
    assert "Surrogate: 24 one-off reward calls" in page.read_text()
    assert (out / "molecule_front.png").is_file()
    page.write_text(page.read_text() + front.NOTES + "hand-written\n")
    assert job.main(argv + methods + ["--no-run"]) == 0
    assert page.read_text().endswith(front.NOTES + "hand-written\n")

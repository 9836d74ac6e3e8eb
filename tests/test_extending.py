"""The recipes of docs/extending.md, run as written: a reward and a model from outside the repo, a new method."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import svdd_ray
from svdd_ray import samplers
from svdd_ray.cli import main
from svdd_ray.demo import bitstrings, ones
from svdd_ray.values import pm_value

DOC = Path(__file__).parents[1] / "docs" / "extending.md"
RECIPES = dict(re.findall(r"<!-- recipe: (\S+) -->\n```\w+\n(.*?)```", DOC.read_text(), flags=re.S))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A user's working directory holding the recipe files, importable as the CLI makes it."""
    for name, text in RECIPES.items():
        if "." in name:
            (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_doc_holds_every_recipe():
    assert set(RECIPES) == {"my_rewards.py", "reward.yaml", "my_model.py", "model.yaml", "method"}


def test_a_reward_from_outside_the_repo(workdir):
    assert main(["run", "reward.yaml", "--quiet"]) == 0
    frame = pd.read_parquet(workdir / "runs" / "my_reward")
    assert len(frame) == 8 and not frame.invalid.any()
    from my_rewards import Palindrome, fraction_of_ones

    objects = frame.object.tolist()
    expected = [a + 0.5 * b for a, b in zip(fraction_of_ones(objects), Palindrome(bonus=0.1)(objects))]
    assert frame.reward.tolist() == pytest.approx(expected)
    assert frame["reward_palindrome"].tolist() == pytest.approx(Palindrome(bonus=0.1)(objects))


def test_a_reward_from_outside_the_repo_on_ray_actors(workdir):
    """Reward actors import the user's module too: the console script puts the working directory on the path."""
    small = ["resources.denoiser_num_cpus=0.5", "reward.components.0.num_cpus=0.5", "reward.components.1.num_cpus=0.5"]
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("svdd-ray")), "run", "reward.yaml", *small, "--backend=ray", "--out=ray"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    on_ray = pd.read_parquet(workdir / "ray").sort_values("index").reset_index(drop=True)
    assert main(["run", "reward.yaml", "--quiet"]) == 0
    local = pd.read_parquet(workdir / "runs" / "my_reward").sort_values("index").reset_index(drop=True)
    pd.testing.assert_frame_equal(on_ray[["object", "reward"]], local[["object", "reward"]])


def test_the_palindrome_cache_key_scores_a_string_and_its_reverse_once(workdir):
    from my_rewards import Palindrome

    from svdd_ray.rewards import canonical_key

    assert canonical_key(Palindrome(), "0011") == canonical_key(Palindrome(), "1100") == "0011"


def test_a_model_from_outside_the_repo(workdir):
    assert main(["run", "model.yaml", "--quiet"]) == 0
    frame = pd.read_parquet(workdir / "runs" / "my_model")
    assert len(frame) == 8 and frame.object.str.fullmatch("[01]{8}").all()
    assert frame.reward.tolist() == pytest.approx(ones(frame.object.tolist()))
    assert frame.reward.mean() > 0.75  # SVDD with M = 4 on fair coins: well above the prior's 0.5


def test_a_new_method_in_the_methods_table(monkeypatch):
    namespace = dict(vars(samplers))
    exec(RECIPES["method"], namespace)  # noqa: S102 - the recipe's own code, as a user adds it to samplers.py
    monkeypatch.setitem(samplers.METHODS, "random_pick", namespace["random_pick"])
    model = bitstrings(length=6, num_steps=6)
    out = svdd_ray.sample(model, pm_value(model, ones), method="random_pick", num_samples=8, num_candidates=3)
    assert out.rewards.shape == (8,) and torch.allclose(
        out.rewards, torch.tensor(ones(out.objects), dtype=out.rewards.dtype)
    )
    assert out.value_calls == 8  # no selection: only the final rewards were asked for

"""The molecule results plan (:mod:`experiments.molecule_results`): each reward's methods as valid configs."""

import pytest

from experiments import molecule_results as mol
from svdd_ray.config import load_config


@pytest.mark.parametrize("reward", sorted(mol.CONFIGS))
def test_every_method_is_a_valid_config_in_its_run_directory(reward, tmp_path):
    plan = mol.plan(reward, tmp_path)
    samples, m = mol.SIZES[reward]
    shipped = load_config(plan.config)
    assert "svdd_mc" not in plan.labels or mol.has_value_network(plan.config, reward)
    for method in plan.labels:
        config = load_config(plan.config, plan.overrides(method, 0))
        assert config.run.output_dir == str(tmp_path / f"{reward}_{method}") and config.run.seed == 0
        assert config.resources.backend == shipped.resources.backend  # the configs' own backend
        assert config.run.num_samples == mol.SAMPLES.get((reward, method), samples)
        assert config.run.num_candidates == (1 if method == "pretrained" else m)
        assert config.run.options == ({"pick": "top"} if method == "best_of_n" else {})
    if reward == "docking":
        config = load_config(plan.config, plan.overrides("svdd", 0))
        assert config.reward.components[0].actors == 2 and config.resources.denoiser_num_cpus == 0


def test_sizes_and_methods_can_be_chosen(tmp_path):
    plan = mol.plan("qed", tmp_path, samples=8, m=3, smc_alpha=0.5, chosen=["smc", "pretrained"])
    assert plan.labels == ["smc", "pretrained"]
    config = load_config(plan.config, plan.overrides("smc", 0))
    assert (config.run.num_samples, config.run.num_candidates, config.run.alpha) == (8, 3, 0.5)

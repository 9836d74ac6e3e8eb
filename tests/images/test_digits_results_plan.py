"""The digits results plan (:mod:`experiments.digits_results`): tuning, comparison and curve runs by name."""

from pathlib import Path

from experiments import digits_results as digits
from svdd_ray.config import load_config


def test_tuning_runs_one_batch_each_on_the_tuning_seed(tmp_path):
    sizes = digits.Sizes(num_samples=64, batch_size=16, m=4, root=tmp_path)
    plan = digits.tuning_plan("digit3", sizes)
    assert plan.labels[0] == "tune-digit3-smc-a0.03" and plan.labels[-1] == "tune-digit3-dps-s100.0"
    config = load_config(plan.config, plan.overrides(plan.labels[-1], digits.TUNING_SEED))
    assert (config.run.num_samples, config.run.batch_size, config.run.seed) == (16, 16, digits.TUNING_SEED)
    assert config.run.method == "dps" and config.run.options == {"guidance_scale": 100.0}
    assert config.run.output_dir == str(tmp_path / "tune-digit3-dps-s100.0")
    assert config.resources.backend == "ray"  # the configs' own, unless Sizes.backend says otherwise
    assert plan.timings == tmp_path / "timings.json"


def test_the_comparison_and_the_curve_name_their_runs_as_before(tmp_path):
    sizes = digits.Sizes(num_samples=64, batch_size=16, m=4, backend="local", root=tmp_path)
    names = digits.main_names("compressibility", 4, 0.5, 30.0)
    assert names == {
        "pretrained": "compressibility-pretrained-M1",
        "best_of_n": "compressibility-best_of_n-M4",
        "smc": "compressibility-smc-M4-a0.5",
        "svdd_mc": "compressibility-svdd_mc-M4",
        "svdd_pm": "compressibility-svdd_pm-M4",
    }
    plan = digits.main_plan("compressibility", sizes, 0.5, 30.0)
    runs = digits.run_dirs(plan, names)
    assert runs["smc"] == tmp_path / "compressibility-smc-M4-a0.5"
    for method, name in names.items():
        config = load_config(plan.config, plan.overrides(name, sizes.seed))
        assert config.run.num_samples == 64 and config.resources.backend == "local"
        if method == "svdd_mc":
            assert config.value.checkpoint == str(Path("checkpoints/digits") / "value_compressibility.pt")
    curve = digits.curve_plan("digit3", sizes, [1, 4])
    assert digits.run_dirs(curve, digits.curve_names("digit3", [1, 4]))[4] == tmp_path / "digit3-svdd_pm-M4"
    assert "digit3-dps-M1-s30.0" in digits.main_names("digit3", 4, 0.5, 30.0).values()

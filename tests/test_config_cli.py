"""Configs and the command line: bad input is one clear line, exit code 2, and nothing written."""

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from svdd_ray.cli import main
from svdd_ray.config import ConfigError, load_config

GOOD = {
    "run": {"method": "svdd", "num_samples": 8, "batch_size": 4, "num_candidates": 2, "output_dir": "OUT"},
    "model": {"target": "bitstrings", "options": {"length": 6, "num_steps": 4}},
    "reward": {"components": [{"target": "ones"}]},
    "resources": {"backend": "local"},
}


def write(tmp_path, data, out="out"):
    data = yaml.safe_load(yaml.safe_dump(data).replace("OUT", str(tmp_path / out)))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_good_config_runs_from_the_command_line(tmp_path, capsys):
    assert main(["run", str(write(tmp_path, GOOD)), "--quiet"]) == 0
    assert "wrote 8 samples in 2 batches" in capsys.readouterr().out
    assert len(pd.read_parquet(tmp_path / "out")) == 8


def test_overrides_take_dotted_keys_and_yaml_values(tmp_path):
    config = load_config(write(tmp_path, GOOD), ["run.num_candidates=5", "run.alpha=0.5", "model.options.length=3"])
    assert config.run.num_candidates == 5 and config.run.alpha == 0.5 and config.model.options["length"] == 3


def test_numeric_override_parts_index_lists(tmp_path):
    config = load_config(write(tmp_path, GOOD), ["reward.components.0.weight=2.5"])
    assert config.reward.components[0].weight == 2.5


@pytest.mark.parametrize(
    "override,message",
    [
        ("run.num_candidates=0", "config.run.num_candidates: must be >= 1, got 0"),
        ("run.alpha=-1", "config.run.alpha: must be a finite number >= 0"),
        ("run.num_samples=many", "config.run.num_samples: expected int, got 'many'"),
        ("run.temperature=2", "config.run.temperature: unknown key"),
        ("run.method=ddim", "config.run.method: must be one of"),
        ("run.options={ess_threshold: 0.5}", "config.run.options.ess_threshold: not an option of svdd"),
        ("reward.components=[]", "config.reward.components: at least one reward"),
        ("reward.components=[{weight: 2}]", "config.reward.components[0].target: required key is missing"),
        ("reward.components=[{target: nonexistent}]", "reward.components[0].target: unknown reward 'nonexistent'"),
        ("reward.components=[{target: 'nowhere.mod:fn'}]", "cannot import nowhere.mod"),
        ("reward.components=[{target: ones, clip: [1]}]", "config.reward.components[0].clip: must be [low, high]"),
        ("model.target=nowhere:make", "model.target"),
        ("value.kind=mc", "config.value.network: required when kind is 'mc'"),
        ("value={kind: mc, network: 'a:b', checkpoint: /no/such.pt}", "config.value.checkpoint: file not found"),
        ("resources.backend=spark", "config.resources.backend: must be 'ray' or 'local'"),
        ("run.method=smc", "config.run.alpha: smc needs alpha > 0"),
        ("novalue", "override 'novalue': expected key=value"),
        ("reward.components.3.weight=1", "reward.components.3.weight: 3 is not an index of a list of 1"),
        ("run.method.x=1", "run.method.x: method is not a mapping or list"),
    ],
)
def test_bad_configs_fail_with_one_line_naming_the_key_and_write_nothing(tmp_path, capsys, override, message):
    code = main(["run", str(write(tmp_path, GOOD)), override, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_missing_and_malformed_files_are_named(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: config file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed")
    assert main(["run", str(bad)]) == 2
    assert "bad.yaml: not valid YAML" in capsys.readouterr().err


def test_a_non_empty_foreign_directory_is_refused(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    assert main(["run", str(write(tmp_path, GOOD)), "--quiet"]) == 2
    assert "is not empty and holds no svdd_ray run" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["precious.txt"]


def test_the_console_script_exits_2_on_a_bad_config(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "svdd_ray.cli", "run", str(write(tmp_path, GOOD)), "run.alpha=-2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("svdd-ray: error: config.run.alpha")


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)

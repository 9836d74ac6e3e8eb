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
        ("resources.max_rows_per_pass=-1", "config.resources.max_rows_per_pass: must be >= 0, got -1"),
        ("run.method=smc", "config.run.alpha: smc needs alpha > 0"),
        ("run.method=particle_gibbs", "config.run.alpha: particle_gibbs needs alpha > 0"),
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


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["run.method=refine", "run.options={rounds: -1}"],
            "config.run.options: rounds must be an integer >= 0, got -1",
        ),
        (["run.method=refine", "run.options={renoise_to: 0}"], "config.run.options: renoise_to must be in (0, 1]"),
        (["run.method=particle_gibbs", "run.alpha=0.5", "run.options={iterations: 0}"], "iterations must be an"),
        (["run.method=smc", "run.alpha=0.5", "run.options={population: all}"], "population must be 'batch' or"),
        (["run.method=tree_search", "run.options={exploration: -1}"], "config.run.options: exploration must be"),
    ],
)
def test_bad_sampler_option_values_fail_before_the_run(tmp_path, capsys, overrides, message):
    """The sampler's own checks run on a stand-in model at load time: one line, exit 2, nothing written."""
    code = main(["run", str(write(tmp_path, GOOD)), *overrides, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
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


BUILD_ERRORS = [
    ("model.target=mosess", "model.target: unknown model 'mosess'"),
    ("model.target=qed", "model.target: 'qed' is a built-in reward, not a model"),
    ("model.target=svdd_ray.demo:ones", "model.options: model 'svdd_ray.demo:ones' got an unexpected keyword"),
    (
        "model={target: 'svdd_ray.demo:SleepyOnes'}",
        "model.target: 'svdd_ray.demo:SleepyOnes' built a SleepyOnes, not a",
    ),
    ("model.options.nosuch=3", "model.options: model 'bitstrings' got an unexpected keyword argument 'nosuch'"),
    ("model.options.length=-1", "model.target: building model 'bitstrings' failed"),
    ("model.device=cuda", "model.device: 'cuda' asked for, but this process sees no GPU"),
    ("model.device=cuda:1", "model.device: 'cuda:1' asked for, but this process sees no GPU"),
    ("model.device=gpu", "config.model.device: must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    ("model.domain=chemistry", "model.domain: unknown domain 'chemistry'"),
    ("reward.components.0.options={nosuch: 1}", "reward.components[0].options: reward 'ones' got an unexpected"),
    ("reward.components=[{target: bitstrings}]", "reward.components[0].target: 'bitstrings' is a built-in model"),
    ("value={kind: mc, network: nosuchnet, checkpoint: CKPT}", "value.network.target: unknown value network"),
    ("value={kind: mc, network: bits, checkpoint: CKPT}", "value.checkpoint: CKPT does not load"),
    ("run={method: dps, num_samples: 4, output_dir: OUT, options: {}}", "config.value.guide: required for method dps"),
    ("value.guide=digitz", "value.guide.target: unknown guide 'digitz'"),
    ("model.factory=moses", "config.model.factory: renamed to config.model.target"),
    ("value.network_options={}", "config.value.network_options: renamed to config.value.network.options"),
    ("reward.components=[{name: ones}]", "config.reward.components[0].target: required key is missing (the reward to"),
]


@pytest.mark.parametrize("backend", ["local", "ray"])
@pytest.mark.parametrize("override,message", BUILD_ERRORS, ids=[o for o, _ in BUILD_ERRORS])
def test_whatever_fails_to_build_is_one_line_exit_2_and_nothing_written(
    request, tmp_path, capsys, backend, override, message
):
    """Model, value network, guide and reward are built (in the denoiser actors too) before the output exists."""
    if backend == "ray":
        request.getfixturevalue("ray_session")
        capsys.readouterr()  # Ray's own start-up lines
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    override = override.replace("CKPT", str(corrupt)).replace("OUT", str(tmp_path / "out"))
    code = main(["run", str(write(tmp_path, GOOD)), override, f"--backend={backend}", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and message.replace("CKPT", str(corrupt)) in err, err
    assert not (tmp_path / "out").exists()


def test_an_empty_config_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n")
    assert main(["run", str(empty), "--quiet"]) == 2
    assert "empty.yaml: the config file is empty" in capsys.readouterr().err


def test_a_directory_holding_only_an_unfinished_attempt_is_reused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "_manifest.json").write_text('{"status": "running", "identity": {"from": "an older config"}}')
    assert main(["run", str(write(tmp_path, GOOD)), "--quiet"]) == 0
    assert len(pd.read_parquet(out)) == 8
    finished = (out / "_manifest.json").read_text()
    assert '"complete"' in finished and '"domain": "bitstrings"' in finished
    assert main(["run", str(write(tmp_path, GOOD)), "run.seed=5", "--quiet"]) == 2  # a finished run stays protected
    assert "holds a run with a different config" in capsys.readouterr().err

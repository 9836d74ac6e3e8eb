"""Training configs: typed schemas per domain, one-line errors, ``jobs/train_prior.py`` and the device picker."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from svdd_ray.config import load_config
from svdd_ray.devices import pick_device
from svdd_ray.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CHEM = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("rdkit", "selfies")), reason="needs the chem extra"
)
DOMAINS = [
    pytest.param("svdd_ray.chem.train", "MolPriorConfig", "prior_moses.yaml", marks=CHEM, id="molecules"),
    pytest.param("svdd_ray.images.train", "DigitsPriorConfig", "prior_digits.yaml", id="digits"),
    pytest.param("svdd_ray.dna.prior", "DnaPriorConfig", "prior_dna.yaml", id="dna"),
]


@pytest.mark.parametrize("module,schema,shipped", DOMAINS)
def test_unknown_keys_and_wrong_types_are_one_line_errors(module, schema, shipped):
    schema = getattr(importlib.import_module(module), schema)
    path = ROOT / "configs" / shipped
    for overrides, message in [
        (["train.lrr=0.1"], r"config\.train\.lrr: unknown key \(known: .*\blr\b.*\)"),
        (["trian.lr=0.1"], r"config\.trian: unknown key \(known: .*\btrain\b.*\)"),
        (["train.lr=fast"], r"config\.train\.lr: expected float, got 'fast'"),
        (["train.batch_size=1.5"], r"config\.train\.batch_size: expected int, got 1\.5"),
        (["network=3"], r"config\.network: expected a mapping, got int"),
    ]:
        with pytest.raises(ConfigError, match=f"^{message}$") as err:
            load_config(path, overrides, schema=schema)
        assert "\n" not in str(err.value)
    assert load_config(path, ["train.lr=0.5"], schema=schema).train.lr == 0.5
    assert load_config(path, ["train.lr=3e-4"], schema=schema).train.lr == 3e-4  # YAML 1.1 reads it as text


def test_train_prior_refuses_a_bad_mapping_before_writing(tmp_path):
    from svdd_ray.images.train import train_prior

    with pytest.raises(ConfigError, match=r"^config\.train\.max_stepz: unknown key"):
        train_prior({"train": {"max_stepz": 1}}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"^config\.train\.device: 'cuda' asked for, but this process sees no GPU$"):
        pick_device("cuda", key="config.train.device")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "train.stepz=3"], "config.train.stepz: unknown key (known: "),
        (["--set", "diffusion.sampler=ddim"], "config.diffusion.sampler: renamed to config.diffusion.scheduler"),
        (["--set", "domain=proteins"], "config.domain: unknown domain 'proteins' (one of digits, dna, molecules)"),
        (["--set", "train.device=cuda"], "config.train.device: 'cuda' asked for, but this process sees no GPU"),
        (["--set", "output_dir=null"], "config.output_dir: no output directory"),
        (["--set", "out_dir=x"], "config.out_dir: renamed to config.output_dir"),
    ],
)
def test_job_reports_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, args, message, load_job):
    if "train.device=cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = [] if "output_dir=null" in args else ["--out", str(tmp_path / "out")]
    assert load_job("train_prior").main(["--config", str(ROOT / "configs" / "prior_digits.yaml"), *out, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"train_prior: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_job_reports_a_missing_or_empty_file(tmp_path, capsys, load_job):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    for path, message in [(tmp_path / "nope.yaml", "config file not found"), (empty, "the config file is empty")]:
        assert load_job("train_prior").main(["--config", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err == f"train_prior: error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()


def test_job_exit_status_from_the_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "train_prior.py"), "--config", str(ROOT / "configs" / "prior_digits.yaml")]
        + ["--out", str(tmp_path / "out"), "--set", "eval.num_sample=5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("train_prior: error: config.eval.num_sample: unknown key (known: grid_cols")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_one_checkpoint_location_rule(monkeypatch, tmp_path):
    from svdd_ray.dna.classifier import default_checkpoint_dir as dna
    from svdd_ray.dna.prior import default_checkpoint_dir as dna_prior
    from svdd_ray.images.classifier import default_checkpoint_dir as digits
    from svdd_ray.package_data import CHECKPOINTS, checkpoint_dir

    for name in ("DIGITS", "DNA", "MOSES", "MOSES_SMILES"):
        monkeypatch.delenv(f"SVDD_RAY_{name}_CHECKPOINTS", raising=False)
    assert CHECKPOINTS == ROOT / "checkpoints"
    assert (digits(), dna(), dna_prior()) == (
        CHECKPOINTS / "digits",
        CHECKPOINTS / "dna",
        CHECKPOINTS / "dna" / "prior",
    )
    monkeypatch.setenv("SVDD_RAY_DNA_CHECKPOINTS", str(tmp_path))
    assert dna() == tmp_path and dna_prior() == tmp_path / "prior"
    monkeypatch.setenv("SVDD_RAY_DIGITS_CHECKPOINTS", "")  # empty counts as unset
    assert digits() == checkpoint_dir("digits") == CHECKPOINTS / "digits"


@CHEM
def test_the_molecule_priors_follow_the_same_rule(monkeypatch, tmp_path):
    from svdd_ray.chem.train import default_checkpoint_dir, smiles_checkpoint_dir
    from svdd_ray.package_data import CHECKPOINTS

    monkeypatch.delenv("SVDD_RAY_MOSES_CHECKPOINTS", raising=False)
    monkeypatch.setenv("SVDD_RAY_MOSES_SMILES_CHECKPOINTS", str(tmp_path))
    assert default_checkpoint_dir() == CHECKPOINTS / "moses" and smiles_checkpoint_dir() == tmp_path


def test_after_training_writes_a_card_only_for_an_evaluated_digits_prior(tmp_path):
    from experiments.cards import after_training

    assert after_training("digits", tmp_path, None) == ""
    assert after_training("digits", tmp_path, {"finished": False, "train_steps": 3}) == ""
    assert after_training("dna", tmp_path, {"finished": False}) == ""
    assert after_training("dna", tmp_path, {"finished": True}) == (
        f"the model card: python -m experiments.cards.dna --ckpt-dir {tmp_path}"
    )
    assert not (tmp_path / "MODEL_CARD.md").exists()

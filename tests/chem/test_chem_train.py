import json
import math
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "domain": "molecules",
    "seed": 0,
    "data": {"limit": 1500, "val_size": 100},
    "network": {"d_model": 16, "layers": 1, "heads": 2},
    "diffusion": {"num_steps": 4},
    "train": {
        "batch_size": 16,
        "max_steps": 4,
        "warmup_steps": 2,
        "log_every": 1,
        "eval_every": 2,
        "sample_every": 4,
        "sample_size": 4,
    },
}


@pytest.mark.moses
def test_tiny_training_run_writes_loadable_checkpoint(tmp_path):
    from svdd_ray.chem.train import load_prior, train_prior

    out = tmp_path / "ckpt"
    log = train_prior(TINY, out)
    assert log["steps"] == 4 and log["finished"] and log["wall_seconds"] > 0
    assert [e["step"] for e in log["loss_curve"]] == [1, 2, 3, 4]
    assert all(math.isfinite(e["loss"]) for e in log["loss_curve"])
    assert [e["step"] for e in log["val_curve"]] == [2, 4] and log["samples"][-1]["step"] == 4
    for name in ("prior.pt", "vocab.json", "config.yaml", "train_log.json"):
        assert (out / name).is_file()
    state = torch.load(out / "prior.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["resolved"]["vocab_size"] == json.loads((out / "vocab.json").read_text())["tokens"].__len__()
    assert config["train"]["lr"] == 1e-3  # defaults filled in
    model = load_prior(out)
    vocab = model.vocab
    assert model.vocab_size == vocab.size and model.seq_len == vocab.seq_len and model.num_steps == 4
    assert model.train_config["resolved"]["vocab_size"] == vocab.size
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    assert load_prior(out, num_steps=7).num_steps == 7
    bare = {k[len("network.") :]: v for k, v in state.items()}  # a bare network state_dict loads too
    torch.save(bare, out / "prior.pt")
    assert torch.equal(load_prior(out).network.head.weight, model.network.head.weight)
    import svdd_ray

    result = svdd_ray.sample(model, lambda x, t: torch.zeros(len(x)), method="pretrained", num_samples=3, seed=1)
    assert len(result.objects) == 3 and all(isinstance(s, str) for s in result.objects)
    assert int(result.x0.max()) < vocab.size  # no mask left


@pytest.mark.moses
def test_tiny_left_to_right_smiles_prior_trains_loads_and_samples(tmp_path):
    from svdd_ray.chem.tokens import SmilesVocab
    from svdd_ray.chem.train import load_prior, train_prior
    from svdd_ray.errors import ConfigError
    from svdd_ray.models.autoregressive import LeftToRightDiffusion

    config = {
        **TINY,
        "data": {**TINY["data"], "tokens": "smiles"},
        "lstm": {"d_embed": 8, "hidden": 16, "layers": 1},
        "diffusion": {"order": "left_to_right", "block_size": 5},
    }
    log = train_prior(config, tmp_path)
    assert log["finished"] and all(math.isfinite(e["loss"]) for e in log["loss_curve"])
    model = load_prior(tmp_path)
    assert isinstance(model, LeftToRightDiffusion) and isinstance(model.vocab, SmilesVocab)
    assert model.num_steps == -(-model.vocab.seq_len // 5)
    assert load_prior(tmp_path, block_size=2).num_steps == -(-model.vocab.seq_len // 2)
    with pytest.raises(ConfigError, match=r"^load_prior\.num_steps: this prior reveals tokens left to right"):
        load_prior(tmp_path, num_steps=50)
    import svdd_ray

    result = svdd_ray.sample(model, lambda x, t: torch.zeros(len(x)), method="pretrained", num_samples=3, seed=1)
    assert len(result.objects) == 3 and int(result.x0.max()) < model.vocab.size


def test_config_validation():
    from svdd_ray.chem.train import MolPriorConfig, as_config
    from svdd_ray.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^config\.domain: .*'molecules', not 'digits'$"):
        as_config({"domain": "digits"})
    with pytest.raises(ConfigError, match=r"^config\.data\.dataset: unknown molecule dataset 'zinc'"):
        as_config({"data": {"dataset": "zinc"}})
    with pytest.raises(ConfigError, match=r"^config\.data\.tokens: 'inchi' is not one of selfies, smiles$"):
        as_config({"data": {"tokens": "inchi"}})
    with pytest.raises(ConfigError, match=r"^config\.diffusion\.order: 'backwards' is not one of random"):
        as_config({"diffusion": {"order": "backwards"}})
    with pytest.raises(ConfigError, match=r"^config\.diffusion\.temperature: must be > 0"):
        as_config({"diffusion": {"temperature": 0}})
    with pytest.raises(ConfigError, match=r"^config\.train\.lrr: unknown key"):
        as_config({"train": {"lrr": 5e-4}})
    cfg = as_config({"train": {"lr": 5e-4}})
    assert cfg.train.lr == 5e-4 and cfg.train.batch_size == 128  # defaults filled in
    assert as_config(cfg) is cfg and as_config(None) == MolPriorConfig()


def test_load_prior_missing_files(tmp_path):
    from svdd_ray.chem.train import load_prior

    with pytest.raises(FileNotFoundError, match="prior.pt"):
        load_prior(tmp_path)


def test_shipped_config_resolves():
    import dataclasses

    from svdd_ray.chem.train import MolPriorConfig
    from svdd_ray.config import load_config

    cfg = load_config(ROOT / "configs" / "prior_moses.yaml", schema=MolPriorConfig)
    assert cfg.domain == "molecules" and cfg.train.max_minutes == 60 and cfg.output_dir == "checkpoints/moses"
    assert dataclasses.replace(cfg, output_dir=None) == MolPriorConfig()  # the yaml spells out the defaults
    gpu = load_config(ROOT / "configs" / "prior_moses_gpu.yaml", schema=MolPriorConfig)
    assert gpu.train.device == "cuda" and gpu.network == cfg.network


def test_committed_prior_loads_with_the_aligned_signature():
    from svdd_ray.chem.train import default_checkpoint_dir, load_prior

    if not (default_checkpoint_dir() / "prior.pt").is_file():
        pytest.skip("no committed MOSES prior")
    model = load_prior(None, "cpu", num_steps=5)
    assert model.num_steps == 5 and model.train_config["diffusion"]["num_steps"] == 5
    assert model.train_config["resolved"]["vocab_size"] == model.vocab.size
    from svdd_ray.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^load_prior\.steps: unknown key \(known: block_size, num_steps, order"):
        load_prior(steps=5)


@pytest.mark.moses
def test_job_dispatches_on_domain(tmp_path, monkeypatch, load_job):
    job = load_job("train_prior")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    assert (
        job.main(
            [
                "--config",
                str(cfg_path),
                "--out",
                str(tmp_path / "o"),
                "--set",
                "train.max_steps=2",
                "--set",
                "train.sample_every=0",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "o" / "train_log.json").read_text())["steps"] == 2

    import svdd_ray.images.train as digits_train

    calls = []
    monkeypatch.setattr(digits_train, "train_prior", lambda config, out_dir: calls.append((config, out_dir)))
    cfg_path.write_text(yaml.safe_dump({"domain": "digits", "output_dir": str(tmp_path / "d")}))
    assert job.main(["--config", str(cfg_path), "--set", "train.max_steps=3"]) == 0
    [(config, out_dir)] = calls
    assert isinstance(config, digits_train.DigitsPriorConfig) and out_dir == str(tmp_path / "d")
    assert config.train.max_steps == 3 and config.output_dir == out_dir


def test_job_overrides_are_validated(tmp_path, capsys, load_job):
    job = load_job("train_prior")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    for override, message in [
        ("train.lr=fast", "config.train.lr: expected float, got 'fast'"),
        ("data.limitt=5", "config.data.limitt: unknown key"),
        ("novalue", "override 'novalue': expected key=value"),
    ]:
        assert job.main(["--config", str(cfg_path), "--out", str(tmp_path / "o"), "--set", override]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"train_prior: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.moses
def test_model_card_pieces(tmp_path):
    from experiments.cards.chem import random_token_baseline, write_model_card
    from svdd_ray.chem.train import train_prior

    log = train_prior(TINY, tmp_path)
    from svdd_ray.chem.train import load_prior

    model = load_prior(tmp_path)
    vocab, config = model.vocab, model.train_config
    import numpy as np

    base = random_token_baseline(vocab, np.array([5, 10]), 20, seed=0)
    assert len(base) == 20 and sum(bool(s) for s in base) >= 15
    metrics = {"seed": 0, "prior": {"validity": 0.9}, "baseline": {"validity": 1.0}}
    path = write_model_card(tmp_path, config, log, metrics, ["CCO"], "Sampling took 1 s on cpu.", 20)
    text = path.read_text()
    assert "| validity | 0.900 | 1.000 | n/a | >= 0.95 | no |" in text and "`CCO`" in text and "steps: 4" in text
    assert "masked-diffusion prior (SELFIES)" in text


def test_model_card_goals():
    from experiments.cards.chem import meets_goal

    assert meets_goal("FCD/Test", 0.9, None) and not meets_goal("FCD/Test", 1.1, None)
    assert meets_goal("validity", 0.95, None) and not meets_goal("validity", 0.94, None)
    assert meets_goal("aromatic", 0.96, 0.98) and not meets_goal("aromatic", 0.94, 0.98)
    assert meets_goal("aromatic", 0.96, None) is None and meets_goal("IntDiv", 0.8, 0.85) is None
    assert meets_goal("novelty", float("nan"), None) is None


def test_the_committed_prior_was_trained_by_the_shipped_gpu_config():
    from svdd_ray.chem.train import default_checkpoint_dir

    repo = Path(__file__).resolve().parents[2]
    shipped = yaml.safe_load((repo / "configs" / "prior_moses_gpu.yaml").read_text())
    committed = yaml.safe_load((default_checkpoint_dir() / "config.yaml").read_text())
    committed.pop("resolved")
    assert committed == shipped


def test_the_committed_smiles_prior_was_trained_by_the_shipped_config_and_loads():
    from svdd_ray.chem.train import load_smiles_prior, smiles_checkpoint_dir
    from svdd_ray.models.autoregressive import LeftToRightDiffusion

    shipped = yaml.safe_load((ROOT / "configs" / "prior_moses_smiles.yaml").read_text())
    committed = yaml.safe_load((smiles_checkpoint_dir() / "config.yaml").read_text())
    committed.pop("resolved")
    for section, values in shipped.items():  # the committed config spells out every default too
        if isinstance(values, dict):
            assert {k: committed[section][k] for k in values} == values, section
        else:
            assert committed[section] == values, section
    model = load_smiles_prior()
    assert isinstance(model, LeftToRightDiffusion) and model.constraint is not None and model.temperature == 0.9
    assert model.num_steps == 14 and load_smiles_prior(block_size=55).num_steps == 1

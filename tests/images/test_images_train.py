"""train_prior end to end on a tiny budget, config handling, and the committed config."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from experiments.cards.images import write_card
from svdd_ray.config import load_config
from svdd_ray.errors import ConfigError
from svdd_ray.images.classifier import default_checkpoint_dir, default_classifier_path
from svdd_ray.images.train import DigitsPriorConfig, as_config, load_prior, train_prior

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_resolves_and_is_digits():
    cfg = load_config(REPO / "configs" / "prior_digits.yaml", schema=DigitsPriorConfig)
    assert cfg.domain == "digits" and cfg.output_dir == "checkpoints/digits"
    assert dataclasses.replace(cfg, output_dir=None) == DigitsPriorConfig()  # the yaml spells out the defaults


def test_config_rejects_unknown_keys_and_domains():
    with pytest.raises(ConfigError, match=r"^config\.train\.stepz: unknown key \(known: [a-z_, ]+\)$"):
        as_config({"train": {"stepz": 1}})
    with pytest.raises(ConfigError, match=r"^config\.domain: .*'digits', not 'moses'$"):
        as_config({"domain": "moses"})
    with pytest.raises(ConfigError, match=r"^config\.diffusion: scheduler must be 'ddpm' or 'ddim', got 'euler'$"):
        as_config({"diffusion": {"scheduler": "euler"}})
    with pytest.raises(ConfigError, match=r"^config\.diffusion: ddim needs eta"):
        as_config({"diffusion": {"scheduler": "ddim", "eta": 0.0}})
    assert as_config({"train": {"max_steps": 7}}).train.max_steps == 7


def test_the_old_sampler_key_is_renamed():
    with pytest.raises(ConfigError, match=r"^config\.diffusion\.sampler: renamed to config\.diffusion\.scheduler$"):
        as_config({"diffusion": {"sampler": "ddim"}})
    assert as_config({"diffusion": {"scheduler": "ddim", "eta": 0.5}}).diffusion.scheduler == "ddim"


@pytest.mark.skipif(not (default_checkpoint_dir() / "prior.pt").is_file(), reason="no committed digits prior")
def test_checkpoints_saved_with_sampler_still_load(tmp_path):
    model = load_prior()  # the committed config.yaml was written before the rename (diffusion.sampler)
    assert model.scheduler == "ddpm" and model.train_config["diffusion"]["scheduler"] == "ddpm"
    committed = yaml.safe_load((default_checkpoint_dir() / "config.yaml").read_text())
    committed["diffusion"].pop("scheduler", None)
    committed["diffusion"].update(sampler="ddim", eta=0.5)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(committed))
    shutil.copy(default_checkpoint_dir() / "prior.pt", tmp_path / "prior.pt")
    model = load_prior(tmp_path, "cpu", num_steps=5)
    assert (model.scheduler, model.eta, model.num_steps) == ("ddim", 0.5, 5)
    with pytest.raises(ConfigError, match=r"^load_prior\.sampler: renamed to load_prior\.scheduler$"):
        load_prior(tmp_path, sampler="ddpm")
    with pytest.raises(ConfigError, match=r"^load_prior: scheduler must be 'ddpm' or 'ddim', got 'euler'$"):
        load_prior(tmp_path, scheduler="euler")


def test_module_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    from svdd_ray.images.__main__ import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("domain: digits\ntrain:\n  max_stepz: 3\n")
    assert main([str(bad), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m svdd_ray.images: error: config.train.max_stepz: unknown key")
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_image_grid_shape():
    import numpy as np

    from svdd_ray.images.figures import image_grid

    grid = image_grid([np.zeros((8, 8), np.uint8)] * 6, rows=2, cols=3, scale=2, pad=1)
    assert grid.shape == (2 * 17 + 1, 3 * 17 + 1) and grid.dtype == np.uint8


@pytest.mark.skipif(not default_classifier_path().is_file(), reason="no committed classifier.pt")
def test_train_prior_smoke(tmp_path):
    shutil.copy(default_classifier_path(), tmp_path / "classifier.pt")  # skip classifier training
    config = {
        "domain": "digits",
        "network": {"base_channels": 8, "channel_mult": [1, 2], "attention": False},
        "diffusion": {"num_steps": 4},
        "train": {"max_steps": 3, "batch_size": 16, "warmup_steps": 1, "log_every": 1},
        "eval": {"num_samples": 24, "grid_rows": 2, "grid_cols": 3},
    }
    metrics = train_prior(config, tmp_path)
    for name in ("prior.pt", "config.yaml", "samples.png", "comparison.png", "metrics.json", "train_state.pt"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "MODEL_CARD.md").exists()  # the experiments layer writes the card
    assert metrics["train_steps"] == 3 and len(metrics["loss_log"]) == 3 and metrics["finished"]
    assert set(metrics["quality"]) == {"model", "train_digits", "heldout_digits", "gaussian_noise", "pixel_marginals"}
    assert json.loads((tmp_path / "metrics.json").read_text())["train_steps"] == 3
    state = torch.load(tmp_path / "prior.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    saved = load_config(tmp_path / "config.yaml", schema=DigitsPriorConfig)  # the saved config validates
    assert saved.diffusion.num_steps == 4 and saved.network.base_channels == 8 and saved.train.lr == 2.0e-3
    model = load_prior(tmp_path)
    assert model.num_steps == 4 and load_prior(tmp_path, num_steps=2).num_steps == 2
    write_card(tmp_path)
    assert "Quality against held-out digits" in (tmp_path / "MODEL_CARD.md").read_text()


TINY = {
    "domain": "digits",
    "network": {"base_channels": 8, "channel_mult": [1, 2], "attention": False},
    "diffusion": {"num_steps": 4},
    "train": {"max_steps": 6, "batch_size": 256, "warmup_steps": 1, "log_every": 1, "eval_every": 3},
    "eval": {"num_samples": 8, "grid_rows": 2, "grid_cols": 3},
}


def _tiny(**train) -> dict:
    return {**TINY, "train": {**TINY["train"], **train}}


@pytest.mark.skipif(not default_classifier_path().is_file(), reason="no committed classifier.pt")
def test_resumed_digits_training_equals_an_uninterrupted_run(tmp_path, one_torch_thread):
    for name in ("whole", "split"):
        (tmp_path / name).mkdir()
        shutil.copy(default_classifier_path(), tmp_path / name / "classifier.pt")
    whole = train_prior(TINY, tmp_path / "whole")  # 6 steps of 256 digits: an epoch boundary on the way
    first = train_prior(_tiny(session_steps=4), tmp_path / "split")
    assert first["train_steps"] == 4 and not first["finished"] and "quality" not in first
    second = train_prior(_tiny(resume=True), tmp_path / "split")
    assert second["train_steps"] == 6 and second["finished"] and second["resumed"][0]["step"] == 4
    assert [e["loss"] for e in second["loss_log"]] == [e["loss"] for e in whole["loss_log"]]
    a = torch.load(tmp_path / "whole" / "prior.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "prior.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("network.") for k in a)  # prior.pt stays the network's state_dict
    assert load_prior(tmp_path / "split").num_steps == 4


def test_resume_refuses_another_digits_network(tmp_path, one_torch_thread):
    shutil.copy(default_classifier_path(), tmp_path / "classifier.pt")
    train_prior(_tiny(max_steps=2), tmp_path)
    wider = {**_tiny(resume=True), "network": {"base_channels": 16, "channel_mult": [1, 2], "attention": False}}
    with pytest.raises(ConfigError, match=r"^train\.resume: .*written by a different config"):
        train_prior(wider, tmp_path)


@pytest.mark.skipif(not (default_checkpoint_dir() / "metrics.json").is_file(), reason="no committed digits prior")
def test_the_committed_card_comes_back_byte_for_byte(tmp_path):
    committed = default_checkpoint_dir()
    for name in ("config.yaml", "metrics.json", "MODEL_CARD.md"):
        shutil.copy(committed / name, tmp_path / name)
    write_card(tmp_path)
    assert (tmp_path / "MODEL_CARD.md").read_text() == (committed / "MODEL_CARD.md").read_text()

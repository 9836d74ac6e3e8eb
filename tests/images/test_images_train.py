"""train_prior end to end on a tiny budget, config handling, and the committed config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from svdd_ray.images.classifier import default_classifier_path
from svdd_ray.images.train import DEFAULT_CONFIG, image_grid, load_prior, resolve_config, train_prior

REPO = Path(__file__).resolve().parents[2]


def test_committed_config_resolves_and_is_digits():
    cfg = yaml.safe_load((REPO / "configs" / "prior_digits.yaml").read_text())
    assert cfg["domain"] == "digits"
    resolved = resolve_config(cfg)
    assert resolved["out_dir"] == "checkpoints/digits"
    assert {**resolved, "out_dir": None} == DEFAULT_CONFIG  # the yaml spells out the defaults


def test_resolve_config_rejects_unknown_keys_and_domains():
    with pytest.raises(ValueError, match="unknown config key"):
        resolve_config({"train": {"stepz": 1}})
    with pytest.raises(ValueError, match="domain"):
        resolve_config({"domain": "moses"})
    assert resolve_config({"train": {"max_steps": 7}})["train"]["max_steps"] == 7


def test_image_grid_shape():
    import numpy as np

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
    for name in ("prior.pt", "config.yaml", "samples.png", "comparison.png", "metrics.json", "MODEL_CARD.md"):
        assert (tmp_path / name).is_file(), name
    assert metrics["train_steps"] == 3 and len(metrics["loss_log"]) == 3
    assert set(metrics["quality"]) == {"model", "train_digits", "heldout_digits", "gaussian_noise", "pixel_marginals"}
    assert json.loads((tmp_path / "metrics.json").read_text())["train_steps"] == 3
    state = torch.load(tmp_path / "prior.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = load_prior(tmp_path)
    assert model.num_steps == 4 and load_prior(tmp_path, num_steps=2).num_steps == 2
    assert "Quality against held-out digits" in (tmp_path / "MODEL_CARD.md").read_text()

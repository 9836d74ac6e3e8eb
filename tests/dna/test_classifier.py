"""DNA cell-type classifiers: architectures, tiny training runs on the fixture, the committed checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from svdd_ray.dna import classifier as clf
from svdd_ray.dna import data

TINY = {"guide": {"channels": 8, "hidden": 8}, "oracle": {"channels": 8, "hidden": 8, "dilations": [1, 2]}}


def tiny_run(kind: str, path, sites, seed: int = 0) -> dict:
    """A few steps on the fixture's 16 training rows (all chromosomes: the fixture is mostly chr10)."""
    chroms = set(data.load_sites("training", path=sites).chromosome)
    return clf.train_classifier(
        kind, path, seed=seed, max_steps=3, batch_size=8, chromosomes=chroms, sites_path=sites, hparams=TINY[kind]
    )


def test_architectures_differ_and_are_strand_symmetric():
    torch.manual_seed(0)
    x = data.one_hot(np.random.default_rng(0).integers(0, 4, (5, data.SEQ_LEN)))
    models = {kind: clf.build_classifier(kind).eval() for kind in clf.KINDS}
    assert type(models["guide"]) is not type(models["oracle"])
    assert clf.count_parameters(models["oracle"]) > clf.count_parameters(models["guide"])
    for model in models.values():
        with torch.no_grad():
            logits = model(x)
            assert logits.shape == (5, len(data.CELL_TYPES))
            torch.testing.assert_close(logits, model(clf.reverse_complement_onehot(x)), rtol=1e-5, atol=1e-5)
    # reverse complement of one-hot equals one-hot of the token reverse complement
    tokens = np.random.default_rng(1).integers(0, 4, (3, 20)).astype(np.uint8)
    assert torch.equal(
        clf.reverse_complement_onehot(data.one_hot(tokens)), data.one_hot(data.reverse_complement(tokens))
    )
    with pytest.raises(ValueError, match=r"\[n, 4, L\]"):
        models["guide"](torch.zeros(2, 200, 4))


def test_tiny_training_writes_a_loadable_deterministic_checkpoint(tmp_path, small_sites):
    log = tiny_run("guide", tmp_path / "a.pt", small_sites)
    tiny_run("guide", tmp_path / "b.pt", small_sites)
    assert log["training"]["steps"] == 3 and log["training"]["stop_reason"] == "steps"
    assert log["data"]["num_rows"] == 16 and sum(log["data"]["rows_per_class"].values()) == 16
    assert set(log["test"]["auroc"]) == set(data.CELL_TYPES) and 0.0 <= log["test"]["accuracy"] <= 1.0
    assert log["architecture"]["hparams"]["channels"] == 8
    on_disk = json.loads((tmp_path / "a.json").read_text())
    assert on_disk["kind"] == "guide" and on_disk["checkpoint_bytes"] == (tmp_path / "a.pt").stat().st_size

    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    model = clf.load_classifier("guide", tmp_path / "a.pt")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = data.one_hot(data.load_sites("test", path=small_sites).tokens)
    torch.testing.assert_close(clf.predict_logits(model, x), clf.predict_logits(model, x), rtol=0, atol=0)
    assert clf.evaluate(model, data.load_sites("test", path=small_sites))["n"] == 16


def test_tiny_oracle_trains_on_its_own_chromosomes(tmp_path, small_sites):
    log = clf.train_classifier(
        "oracle", tmp_path / "o.pt", max_steps=2, batch_size=8, sites_path=small_sites, hparams=TINY["oracle"]
    )
    assert set(log["data"]["chromosomes"]) <= data.ORACLE_CHROMOSOMES
    assert log["data"]["num_rows"] == 13  # the fixture's chr10 / chr14 / chr16 training rows
    assert log["architecture"]["class"] == "OracleResNet"
    model = clf.load_classifier("oracle", tmp_path / "o.pt")
    assert len(model.blocks) == 2
    with pytest.raises(ValueError, match="no training rows"):
        clf.train_classifier("guide", None, max_steps=1, chromosomes={"chr1"}, sites_path=small_sites)


def test_kinds_paths_and_missing_checkpoints(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown kind 'teacher'"):
        clf.build_classifier("teacher")
    with pytest.raises(FileNotFoundError, match="python -m svdd_ray.dna.classifier train --kind oracle"):
        clf.load_classifier("oracle", tmp_path / "nothing.pt")
    monkeypatch.setenv(clf.CHECKPOINT_DIR_ENV, str(tmp_path))
    assert clf.default_classifier_path("guide") == tmp_path / "guide_classifier.pt"
    monkeypatch.delenv(clf.CHECKPOINT_DIR_ENV)
    assert clf.default_classifier_path("oracle").parts[-3:] == ("checkpoints", "dna", "oracle_classifier.pt")


def test_committed_checkpoints_load_and_are_deterministic(monkeypatch):
    monkeypatch.delenv(clf.CHECKPOINT_DIR_ENV, raising=False)
    x = data.one_hot(np.random.default_rng(0).integers(0, 4, (16, data.SEQ_LEN)))
    logits = {}
    for kind in clf.KINDS:
        path = clf.default_classifier_path(kind)
        assert path.stat().st_size < 20e6
        state = torch.load(path, map_location="cpu", weights_only=True)
        log = json.loads(path.with_suffix(".json").read_text())
        assert log["kind"] == kind and set(log["data"]["chromosomes"]) <= set(clf._CHROMOSOMES[kind])
        assert log["num_parameters"] == sum(
            v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k
        )
        assert log["test"]["auroc"]["HepG2"] > 0.8  # recorded on chr1 at training time
        model = clf.load_classifier(kind)
        logits[kind] = clf.predict_logits(model, x)
        assert logits[kind].shape == (16, 4) and torch.isfinite(logits[kind]).all()
        assert torch.equal(logits[kind], clf.predict_logits(clf.load_classifier(kind), x))
    assert not torch.allclose(logits["guide"], logits["oracle"])
    card = (clf.default_checkpoint_dir() / "CLASSIFIERS.md").read_text()
    assert "python -m svdd_ray.dna.classifier train --kind oracle" in card

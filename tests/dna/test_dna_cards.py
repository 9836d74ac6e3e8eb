"""The DNA cards of the experiments layer: the prior's from its saved numbers, the classifiers' on tiny checkpoints."""

from __future__ import annotations

import json

import pytest

from experiments.cards import dna, dna_classifiers
from svdd_ray.dna import classifier as clf
from svdd_ray.dna import data
from svdd_ray.dna.prior import default_checkpoint_dir

TINY = {"guide": {"channels": 8, "hidden": 8}, "oracle": {"channels": 8, "hidden": 8, "dilations": [1, 2]}}


@pytest.mark.skipif(not (default_checkpoint_dir() / "model_card.json").is_file(), reason="no committed DNA prior")
def test_the_committed_prior_card_comes_back_from_its_numbers(monkeypatch):
    monkeypatch.delenv(clf.CHECKPOINT_DIR_ENV, raising=False)
    committed = default_checkpoint_dir()
    card = dna.render(json.loads((committed / "model_card.json").read_text()))
    # the card's own command moved out of the library; every other byte is the committed card's
    expected = (committed / "MODEL_CARD.md").read_text()
    assert card == expected.replace("python -m svdd_ray.dna.model_card", "python -m experiments.cards.dna")


def test_classifier_card_of_tiny_checkpoints(tmp_path, small_sites):
    chroms = set(data.load_sites("training", path=small_sites).chromosome)
    for kind in clf.KINDS:
        clf.train_classifier(
            kind, tmp_path / f"{kind}_classifier.pt", max_steps=2, batch_size=8, chromosomes=chroms, hparams=TINY[kind]
        )
    numbers = dna_classifiers.write_card(tmp_path)
    assert set(numbers["test"]) == set(clf.KINDS) and numbers["reward_seconds_256"]["threads"] >= 1
    card = (tmp_path / "CLASSIFIERS.md").read_text()
    assert card.startswith("# DNA cell-type classifiers") and "| guide |" in card and "| oracle |" in card
    assert (
        "python -m experiments.cards.dna_classifiers" in card and "python -m svdd_ray.dna.classifier card" not in card
    )

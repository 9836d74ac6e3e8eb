"""HepG2 specificity rewards (guide classifier and oracle) and the differentiable DPS guide."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from svdd_ray import plugins
from svdd_ray.dna import classifier as clf
from svdd_ray.dna import data
from svdd_ray.dna.rewards import HepG2Guide, HepG2Oracle, HepG2Specificity, hepg2_guide, specificity
from svdd_ray.models import MaskedDiffusion

SMALL_SITES = Path(__file__).parent / "data" / "sites_small.tsv"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A guide classifier trained for a few steps on the 48-row fixture (quality does not matter here)."""
    path = tmp_path_factory.mktemp("dna_classifier") / "guide_classifier.pt"
    chroms = set(data.load_sites("training", path=SMALL_SITES).chromosome)
    torch.set_num_threads(1)
    clf.train_classifier(
        "guide", path, max_steps=3, batch_size=8, chromosomes=chroms, sites_path=SMALL_SITES,
        hparams={"channels": 8, "hidden": 8},
    )  # fmt: skip
    return path


def random_sequences(n: int, seed: int = 0) -> list[str]:
    return data.decode(np.random.default_rng(seed).integers(0, 4, (n, data.SEQ_LEN)))


class ToyNet(torch.nn.Module):
    """``net(x, t) -> x0 logits`` for the masked model: a per-token embedding, enough for the guide."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(5, 8)
        self.out = torch.nn.Linear(8, 4)

    def forward(self, x, t):
        return self.out(self.embed(x)) + t[:, None, None]


def toy_model() -> MaskedDiffusion:
    return MaskedDiffusion(ToyNet(), vocab_size=4, seq_len=data.SEQ_LEN, num_steps=10, decoder=data.decode)


def test_reward_values_keys_determinism_and_batching(tiny_checkpoint):
    reward = HepG2Specificity(checkpoint=tiny_checkpoint, batch_size=7)
    seqs = random_sequences(20)
    values = reward(seqs)
    assert len(values) == 20 and all(isinstance(v, float) and np.isfinite(v) for v in values)
    assert reward(seqs) == values
    assert HepG2Specificity(checkpoint=tiny_checkpoint, batch_size=1024)(seqs) == pytest.approx(values, abs=1e-5)
    assert reward([s.lower() for s in seqs[:3]]) == pytest.approx(values[:3], abs=1e-5)
    assert reward.canonical_key(seqs[0].lower()) == seqs[0]
    assert reward([]) == []
    # the value is the target logit minus the largest other logit
    logits = clf.predict_logits(reward.classifier, data.one_hot(data.encode(seqs)))
    expected = logits[:, 0] - logits[:, 1:].max(dim=1).values
    assert values == pytest.approx(expected.tolist(), abs=1e-5)
    k562 = HepG2Specificity(checkpoint=tiny_checkpoint, cell="K562")(seqs)
    assert k562 == pytest.approx(specificity(logits, 1).tolist(), abs=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (["ACGN" + "A" * 196], r"hepg2 reward: sequence\[1\]: letter 'N'"),
        (["A" * 199], r"hepg2 reward: sequence\[1\]: length 199, expected 200"),
        ([None], r"hepg2 reward: sequence\[1\]: expected an ACGT string, got NoneType"),
    ],
)
def test_bad_input_names_the_row(tiny_checkpoint, bad, match):
    reward = HepG2Specificity(checkpoint=tiny_checkpoint)
    with pytest.raises(ValueError, match=match):
        reward(random_sequences(1) + bad)


def test_probabilities_score_like_the_sequences_they_put_all_weight_on(tiny_checkpoint):
    """A soft PM value's objects: one-hot rows score as the sequence; mixed rows score in between."""
    reward = HepG2Specificity(checkpoint=tiny_checkpoint, batch_size=3)
    seqs = random_sequences(5)
    onehot = [np.eye(4, dtype=np.float32)[row] for row in data.encode(seqs)]
    assert reward(onehot) == pytest.approx(reward(seqs), abs=1e-5)
    half = [(a + b) / 2 for a, b in zip(onehot, onehot[1:] + onehot[:1])]
    expected = reward.score_onehot(torch.from_numpy(np.stack(half)).transpose(1, 2))
    assert reward(half) == pytest.approx(expected.tolist(), abs=1e-5)
    keys = {reward.canonical_key(a) for a in onehot + half}
    assert len(keys) == 10 and reward.canonical_key(onehot[0].copy()) == reward.canonical_key(onehot[0])


@pytest.mark.parametrize(
    "bad, match",
    [
        (
            np.full((199, 4), 0.25, np.float32),
            r"sequence\[2\]: probabilities must have shape \(200, 4\), got \(199, 4\)",
        ),
        (np.full((200, 4), 0.5, np.float32), r"sequence\[2\]: probabilities must be finite, >= 0 and sum to 1"),
        (np.full((200, 4), np.nan, np.float32), r"sequence\[2\]: probabilities must be finite"),
    ],
)
def test_bad_probabilities_name_the_row(tiny_checkpoint, bad, match):
    good = np.full((200, 4), 0.25, np.float32)
    with pytest.raises(ValueError, match=match):
        HepG2Specificity(checkpoint=tiny_checkpoint)([good, bad])


def test_bad_options(tiny_checkpoint):
    with pytest.raises(ValueError, match="one string"):
        HepG2Specificity(checkpoint=tiny_checkpoint)("A" * 200)
    with pytest.raises(ValueError, match="cell must be one of"):
        HepG2Specificity(checkpoint=tiny_checkpoint, cell="liver")
    with pytest.raises(ValueError, match="mask_fill"):
        hepg2_guide(toy_model(), checkpoint=tiny_checkpoint, mask_fill="zeros")


@pytest.mark.parametrize("mask_fill", ["x0", "uniform"])
def test_guide_is_differentiable_and_equals_the_reward_when_unmasked(tiny_checkpoint, mask_fill):
    model = toy_model()
    guide = hepg2_guide(model, checkpoint=tiny_checkpoint, mask_fill=mask_fill)
    assert isinstance(guide, HepG2Guide)
    seqs = random_sequences(4, seed=1)
    tokens = torch.as_tensor(data.encode(seqs)).long()

    clean = F.one_hot(tokens, 5).float()
    assert guide(clean, 3).tolist() == pytest.approx(guide.reward(seqs), abs=1e-5)

    state = tokens.clone()
    state[:, ::2] = 4  # half the positions masked
    onehot = F.one_hot(state, 5).float().requires_grad_(True)
    values = guide(onehot, 5)
    assert values.shape == (4,) and torch.isfinite(values).all()
    (grad,) = torch.autograd.grad(values.sum(), onehot)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert grad[:, ::2, :4].abs().sum() > 0  # masked positions get a gradient for each base

    # the engine's path: predictor guidance tilts the transitions by the guide's gradient
    gen = torch.Generator().manual_seed(0)
    x = model.guided_propose(state, 5, gen, guide, scale=1.0)
    assert x.shape == state.shape and bool(((x == state) | (state == 4)).all())


def test_guide_fill_uses_the_models_x0_prediction(tiny_checkpoint):
    model = toy_model()
    guide = hepg2_guide(model, checkpoint=tiny_checkpoint)
    state = torch.full((2, data.SEQ_LEN), 4)
    state[:, :10] = 0
    filled = guide.fill(F.one_hot(state, 5).float(), 7)
    probs = torch.softmax(model.x0_logits(state, 7), dim=-1)
    torch.testing.assert_close(filled[:, :, 10:], probs[:, 10:].transpose(1, 2))
    assert torch.equal(filled[:, 0, :10], torch.ones(2, 10))
    uniform = hepg2_guide(model, checkpoint=tiny_checkpoint, mask_fill="uniform").fill(F.one_hot(state, 5).float(), 7)
    assert torch.equal(uniform[:, :, 10:], torch.full((2, 4, 190), 0.25))


def test_plugins_resolve_the_registered_names(tiny_checkpoint):
    reward = plugins.build("reward", "hepg2", {"checkpoint": str(tiny_checkpoint)})
    assert isinstance(reward, HepG2Specificity) and not isinstance(reward, HepG2Oracle)
    assert plugins.resolve("reward", "hepg2_oracle") is HepG2Oracle
    assert plugins.resolve("guide", "hepg2") is hepg2_guide


@pytest.mark.dna_data
def test_committed_rewards_rank_hepg2_sites_above_k562_sites(monkeypatch):
    """A real check of the committed classifiers: HepG2 test sites (chr1) outscore K562 ones."""
    monkeypatch.delenv("SVDD_RAY_DNA_SITES", raising=False)
    monkeypatch.delenv(clf.CHECKPOINT_DIR_ENV, raising=False)
    test = data.load_sites("test")
    rng = np.random.default_rng(0)
    hepg2 = [test.sequences[i] for i in rng.choice(np.flatnonzero(test.cell == 0), 200, replace=False)]
    k562 = [test.sequences[i] for i in rng.choice(np.flatnonzero(test.cell == 1), 200, replace=False)]
    guide, oracle = HepG2Specificity(), HepG2Oracle()
    g, o = np.array(guide(hepg2 + k562)), np.array(oracle(hepg2 + k562))
    for values in (g, o):
        on_hepg2, on_k562 = values[:200].mean(), values[200:].mean()
        assert on_hepg2 > 0 > on_k562 and on_hepg2 > on_k562 + 1.0, (on_hepg2, on_k562)
    # the oracle is a different model: different values, though they agree in ranking
    assert not np.allclose(g, o, atol=1e-3)
    assert np.corrcoef(g, o)[0, 1] > 0.5
    assert type(guide.classifier) is not type(oracle.classifier)


def test_committed_reward_is_fast_and_deterministic(monkeypatch):
    monkeypatch.delenv(clf.CHECKPOINT_DIR_ENV, raising=False)
    reward = HepG2Specificity()
    seqs = random_sequences(256, seed=2)
    first = reward(seqs)
    start = time.perf_counter()
    second = reward(seqs)
    assert time.perf_counter() - start < 5.0  # about 0.2 s on one idle core
    assert first == second and len(first) == 256
    guide = hepg2_guide(toy_model())
    onehot = F.one_hot(torch.as_tensor(data.encode(seqs[:8])).long(), 5).float()
    assert guide(onehot, 2).tolist() == pytest.approx(first[:8], abs=1e-4)

"""SVDD-MC on molecules: the SELFIES value network, its checkpoint, and an engine run with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from svdd_ray import engine
from svdd_ray.chem.rewards import qed
from svdd_ray.chem.train import default_checkpoint_dir, load_prior
from svdd_ray.chem.value_net import SelfiesValueNet
from svdd_ray.config import load_config
from svdd_ray.values import ValueNetwork, load_value_network, save_value_network

REPO = Path(__file__).resolve().parents[2]
STEPS = 4

pytestmark = pytest.mark.skipif(
    not (default_checkpoint_dir() / "prior.pt").is_file(), reason="no committed MOSES prior"
)


def test_the_body_starts_from_the_prior_and_the_head_from_the_mean():
    prior = load_prior(num_steps=STEPS)
    net = SelfiesValueNet().eval()
    net.set_target_stats(0.6, 0.2)
    x = prior.sample_prior(3, torch.Generator())
    x[:, :5] = torch.tensor([5, 6, 7, 8, 9])
    t = torch.full((3,), 0.5)
    with torch.no_grad():
        hidden = prior.network.features(x, t)
        assert torch.allclose(net.body.features(x, t), hidden)
        assert torch.allclose(net(x, t), torch.full((3,), 0.6))
        assert net.train()(x, t).shape == (3,)  # zero-initialised last layer


def test_a_frozen_body_leaves_only_the_head_to_train():
    net = SelfiesValueNet(train_body=False)
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("head.") for name in trainable)
    fresh = SelfiesValueNet(prior=None, d_model=32, layers=1, heads=2)
    assert fresh.body.d_model == 32 and all(p.requires_grad for p in fresh.parameters())


def test_a_missing_prior_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml is missing"):
        SelfiesValueNet(prior=str(tmp_path))


def test_svdd_mc_on_molecules_runs_through_the_engine(tmp_path):
    torch.manual_seed(0)
    net = SelfiesValueNet(prior=None, d_model=16, layers=1, heads=2, hidden=8)
    with torch.no_grad():
        net.head[-1].weight.normal_()  # a non-constant (untrained) value, so selection matters
    checkpoint = tmp_path / "value.pt"
    save_value_network(ValueNetwork(net, STEPS), checkpoint)
    loaded = load_value_network(
        ValueNetwork(SelfiesValueNet(prior=None, d_model=16, layers=1, heads=2, hidden=8), STEPS), checkpoint
    )
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))
    config = load_config(
        REPO / "configs" / "molecule_qed.yaml",
        [
            "run.num_samples=4",
            "run.batch_size=2",
            "run.num_candidates=3",
            f"run.output_dir={tmp_path / 'run'}",
            "model.target=moses",
            f"model.options={{num_steps: {STEPS}}}",
            "resources.backend=local",
            "value.kind=mc",
            "value.network.target=svdd_ray.chem.value_net:SelfiesValueNet",
            "value.network.options={prior: null, d_model: 16, layers: 1, heads: 2, hidden: 8}",
            f"value.checkpoint={checkpoint}",
        ],
    )
    engine.run(config)
    frame = pd.read_parquet(tmp_path / "run").sort_values("index")
    assert len(frame) == 4 and not frame["invalid"].any()
    np.testing.assert_allclose(frame["reward"], qed(frame["object"].tolist()), atol=1e-6)
    # the network answers steps t >= 1; only the final candidates (t = 0) reach the QED reward
    assert (frame["value_calls"] == 2 * 3 * STEPS).all() and (frame["reward_calls"] <= 2 * 3).all()


def test_the_fingerprint_value_reads_the_denoised_molecule():
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from svdd_ray.chem.value_net import FingerprintValueNet

    prior = load_prior(num_steps=STEPS)
    net = FingerprintValueNet(bits=512, hidden=16).eval()
    net.set_target_stats(0.5, 0.1)
    clean = prior.vocab.encode(["CCO", "c1ccccc1O"])
    fps = net.fingerprints(clean, torch.zeros(2))
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=512)
    expected = [
        np.log1p(morgan.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)).astype(np.float32))
        for s in ("CCO", "Oc1ccccc1")
    ]
    np.testing.assert_allclose(fps.numpy(), np.stack(expected), rtol=1e-6)
    masked = prior.sample_prior(2, torch.Generator())  # all masks: the prior's guess is a molecule too
    assert (net.fingerprints(masked, torch.ones(2)).sum(dim=1) > 0).all()
    assert torch.allclose(net(masked, torch.ones(2)), torch.full((2,), 0.5))  # zero-initialised last layer
    assert not any(p.requires_grad for p in net.prior.parameters())


def test_the_fingerprint_value_runs_on_the_left_to_right_prior():
    from svdd_ray.chem.train import load_smiles_prior, smiles_checkpoint_dir
    from svdd_ray.chem.value_net import FingerprintValueNet

    if not (smiles_checkpoint_dir() / "prior.pt").is_file():
        pytest.skip("no committed SMILES prior")
    prior = load_smiles_prior(block_size=4)
    net = FingerprintValueNet(prior="moses_smiles", bits=256, hidden=8).eval()
    generator = torch.Generator().manual_seed(0)
    x = prior.sample_prior(2, generator)
    early = prior.propose(x, prior.num_steps, generator)  # 4 tokens revealed
    later = prior.propose(prior.propose(early, prior.num_steps - 1, generator), prior.num_steps - 2, generator)
    states = torch.cat([early, later])  # two steps in one call, as in training
    t_frac = torch.tensor([13, 13, 11, 11]) / prior.num_steps
    expected = torch.cat([prior.predict_x0(early, prior.num_steps - 1), prior.predict_x0(later, prior.num_steps - 3)])
    assert torch.equal(net.denoised(states, t_frac), expected)
    assert (net.fingerprints(states, t_frac).sum(dim=1) > 0).all()  # greedy completions decode to molecules
    with pytest.raises(FileNotFoundError, match="value network prior"):
        FingerprintValueNet(prior="/nonexistent")

"""SMILES syntax masks for left-to-right priors."""

import pytest
import torch
from rdkit import Chem

from svdd_ray.chem.grammar import SmilesSyntax
from svdd_ray.chem.tokens import SelfiesVocab, SmilesVocab, split_smiles
from svdd_ray.models.autoregressive import CausalLSTM, LeftToRightDiffusion

VOCAB = SmilesVocab.build(["CC(=O)Nc1ccc(O)cc1", "C1CC2CCC1C2", "CC#N", "c1ccc2[nH]ccc2c1", "FC(Cl)Br"])


def allowed_after(smiles_prefix: str) -> set[str]:
    tokens = [VOCAB.index[t] for t in split_smiles(smiles_prefix)]
    mask = SmilesSyntax(VOCAB)(torch.tensor([tokens], dtype=torch.long).reshape(1, len(tokens)))[0]
    return {VOCAB.tokens[i] for i in range(VOCAB.size) if mask[i]}


def test_the_rules():
    end = VOCAB.pad_token
    assert allowed_after("") == {t for t in VOCAB.tokens if t not in {end, "(", ")", "=", "#", "1", "2"}}
    after_open = allowed_after("CC(")
    assert ")" not in after_open and "(" not in after_open and end not in after_open and "=" in after_open
    assert end not in allowed_after("c1ccccc") and "1" in allowed_after("c1ccccc")  # ring 1 still open
    assert end in allowed_after("c1ccccc1") and ")" not in allowed_after("c1ccccc1")
    assert end not in allowed_after("CC(C") and ")" in allowed_after("CC(C")
    assert "1" not in allowed_after("CC(C)") and allowed_after("CC=") == {
        t for t in VOCAB.tokens if t[0].isalpha() or t[0] == "[" or t.isdigit()
    }


def test_the_end_is_final():
    row = VOCAB.encode(["CCO"])  # C C O <end> <end> ...
    mask = SmilesSyntax(VOCAB)(row[:, :5])
    assert mask[0].tolist() == [True] + [False] * (VOCAB.size - 1)


@pytest.mark.moses
def test_no_training_molecule_is_ever_masked(moses_train_small):
    vocab = SmilesVocab.build(moses_train_small)
    syntax = SmilesSyntax(vocab)
    x = vocab.encode(moses_train_small[:1000])
    for pos in range(vocab.seq_len):
        allowed = syntax(x[:, :pos])
        assert allowed[torch.arange(len(x)), x[:, pos]].all(), pos


def parsable_share(constraint) -> float:
    torch.manual_seed(0)
    net = CausalLSTM(VOCAB.size, 8, 16, 1)
    model = LeftToRightDiffusion(net, VOCAB.size, 40, block_size=5, constraint=constraint).eval()
    import svdd_ray

    out = svdd_ray.sample(model, lambda x, t: torch.zeros(len(x)), method="pretrained", num_samples=400, seed=0)
    texts = ["".join(VOCAB.tokens[i] for i in row[: row.index(0)]) for row in out.x0.tolist() if 0 in row]
    assert len(texts) >= 50  # a random network ends a fair share of rows within 40 tokens
    return sum(Chem.MolFromSmiles(t, sanitize=False) is not None for t in texts) / len(texts)


def test_constrained_sampling_from_a_random_network_gives_parsable_smiles():
    # left: only two ring closures between the same two atoms ("C12CC12"), which the mask does not track
    assert parsable_share(SmilesSyntax(VOCAB)) > 0.97
    assert parsable_share(None) < 0.5


def test_the_x0_completion_follows_the_syntax_too():
    torch.manual_seed(1)
    model = LeftToRightDiffusion(CausalLSTM(VOCAB.size, 8, 16, 1), VOCAB.size, 30, constraint=SmilesSyntax(VOCAB))
    start = torch.full((4, 30), VOCAB.size)
    start[:, :3] = torch.tensor([VOCAB.index[t] for t in ("C", "(", "C")])
    done = model.predict_x0(start, model.num_steps - 1)
    for row in done.tolist():
        assert row[:3] == start[0, :3].tolist()
        if 0 in row:  # ended: the branch was closed first
            assert ")" in "".join(VOCAB.tokens[i] for i in row[: row.index(0)])


def test_only_smiles_vocabularies_take_the_syntax():
    with pytest.raises(TypeError, match="SmilesVocab"):
        SmilesSyntax(SelfiesVocab.build(["CCO"]))

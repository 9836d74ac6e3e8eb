import json

import pytest
import torch
from rdkit import Chem

from svdd_ray.chem.tokens import PAD_TOKEN, SelfiesVocab, smiles_to_selfies_tokens


@pytest.fixture(scope="module")
def vocab(moses_train_small):
    return SelfiesVocab.build(moses_train_small)


def canon(smi):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smi))


@pytest.mark.moses
def test_vocab_shape(vocab):
    assert vocab.tokens[0] == PAD_TOKEN and vocab.pad_id == 0
    assert 20 <= vocab.size <= 40
    assert 30 <= vocab.seq_len <= 64
    assert vocab.mask_id == vocab.size


@pytest.mark.moses
def test_round_trip_on_moses(vocab, moses_train_small):
    mols = moses_train_small[:500]
    x = vocab.encode(mols)
    assert x.dtype == torch.long and x.shape == (500, vocab.seq_len)
    assert int(x.min()) >= 0 and int(x.max()) < vocab.size  # never the mask id
    assert vocab.decode(x) == [canon(s) for s in mols]
    assert (vocab.lengths(x) > 0).all()


@pytest.mark.moses
def test_pads_anywhere_are_ignored(vocab):
    smi = "CCOC(=O)c1ccccc1N"
    x = vocab.encode([smi])[0]
    n = int(vocab.lengths(x))
    assert 2 * n <= vocab.seq_len
    spread = torch.zeros_like(x)
    spread[: 2 * n : 2] = x[:n]  # pad between every token
    assert vocab.decode(spread[None])[0] == canon(smi)
    assert vocab.decode(x) == vocab.decode(x[None])  # 1-D input accepted


@pytest.mark.moses
def test_invalid_and_empty_decode_to_empty_string(vocab):
    L = vocab.seq_len
    rows = torch.zeros(4, L, dtype=torch.long)
    rows[1, 0] = vocab.mask_id  # left-over mask
    rows[2, 3] = 10_000  # out of range
    rows[3, 0] = -1
    assert vocab.decode(rows) == ["", "", "", ""]
    garbage = torch.randint(0, vocab.size, (200, L), generator=torch.Generator().manual_seed(0))
    out = vocab.decode(garbage)
    assert len(out) == 200 and all(isinstance(s, str) for s in out)
    assert all(Chem.MolFromSmiles(s) is not None for s in out if s)


@pytest.mark.moses
def test_encode_errors(vocab):
    with pytest.raises(ValueError, match="cannot encode"):
        vocab.encode(["not a smiles"])
    with pytest.raises(ValueError):
        vocab.encode(["C" * (vocab.seq_len + 5)])  # too long
    with pytest.raises(ValueError):
        vocab.encode(["[Se]1C=CC=C1"])  # token outside the vocabulary
    with pytest.raises(TypeError):
        vocab.encode("CCO")
    x = vocab.encode(["CCO", "", None, "xx"], strict=False)
    assert x[1:].eq(0).all() and vocab.decode(x) == ["CCO", "", "", ""]


@pytest.mark.moses
def test_json_round_trip(vocab, tmp_path):
    path = vocab.save(tmp_path / "v" / "vocab.json")
    data = json.loads(path.read_text())
    assert data["tokens"][0] == PAD_TOKEN and data["seq_len"] == vocab.seq_len
    assert SelfiesVocab.load(path) == vocab
    with pytest.raises(ValueError):
        SelfiesVocab.from_dict({"tokens": ["[C]"], "seq_len": 3})


def test_constructor_checks():
    with pytest.raises(ValueError):
        SelfiesVocab(["[C]", PAD_TOKEN], 5)
    with pytest.raises(ValueError):
        SelfiesVocab([PAD_TOKEN, "[C]", "[C]"], 5)
    assert smiles_to_selfies_tokens("") is None and smiles_to_selfies_tokens(None) is None
    assert smiles_to_selfies_tokens("CCO") == ["[C]", "[C]", "[O]"]


def test_build_small_vocab():
    v = SelfiesVocab.build(["CCO", "c1ccccc1", "CCN", "bad("])
    assert v.seq_len == 8  # benzene: 6 atoms + ring tokens
    assert v.decode(v.encode(["OCC", "c1ccccc1"])) == ["CCO", "c1ccccc1"]

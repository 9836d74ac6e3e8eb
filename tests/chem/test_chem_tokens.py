import json

import pytest
import torch
from rdkit import Chem

from svdd_ray.chem.tokens import (
    PAD_TOKEN,
    SelfiesVocab,
    SmilesVocab,
    load_vocab,
    smiles_to_selfies_tokens,
    smiles_to_tokens,
)


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


# ---------------------------------------------------------------- atom-level SMILES


@pytest.fixture(scope="module")
def smiles_vocab(moses_train_small):
    return SmilesVocab.build(moses_train_small)


def test_smiles_tokens_keep_atoms_whole():
    assert smiles_to_tokens("C[nH]1cc(Cl)c(Br)c1%12") is None  # ring bond 12 never closes: not a molecule
    assert smiles_to_tokens("Clc1cc[nH]c1Br") == ["Cl", "c", "1", "c", "c", "[nH]", "c", "1", "Br"]
    assert smiles_to_tokens("C1CC(") is None and smiles_to_tokens("") is None and smiles_to_tokens(None) is None


@pytest.mark.moses
def test_smiles_round_trip_and_room_for_the_end_token(smiles_vocab, moses_train_small):
    mols = moses_train_small[:500]
    x = smiles_vocab.encode(mols)
    assert smiles_vocab.decode(x) == [canon(s) for s in mols]
    longest = max(len(smiles_to_tokens(s)) for s in moses_train_small)
    assert smiles_vocab.seq_len == longest + 1
    assert (x[:, -1] == smiles_vocab.pad_id).all()  # every row ends with at least one pad


def test_smiles_decoding_stops_at_the_first_pad():
    v = SmilesVocab.build(["CCO", "c1ccccc1"])
    x = v.encode(["CCO"])[0]
    x[4:] = torch.tensor([v.index["c"]] * (v.seq_len - 4))  # garbage after the end token
    assert v.decode(x) == ["CCO"]
    x[1] = v.pad_id
    assert v.decode(x) == ["C"]
    bad = v.encode(["CCO"])
    bad[0, 0] = v.index["1"]  # an unclosed ring
    assert v.decode(bad) == [""]


def test_vocab_files_know_their_kind(tmp_path):
    smiles, selfies = SmilesVocab.build(["CCO"]), SelfiesVocab.build(["CCO"])
    assert load_vocab(smiles.save(tmp_path / "a.json")) == smiles
    assert load_vocab(selfies.save(tmp_path / "b.json")) == selfies
    with pytest.raises(ValueError, match="SmilesVocab"):
        SmilesVocab.load(tmp_path / "b.json")
    (tmp_path / "c.json").write_text('{"format": "x"}')
    with pytest.raises(ValueError, match="c.json: not a vocabulary file"):
        load_vocab(tmp_path / "c.json")

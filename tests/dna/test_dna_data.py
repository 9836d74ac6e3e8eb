import numpy as np
import pytest

from svdd_ray.dna import data
from svdd_ray.errors import ConfigError


def test_fixture_table_loads_with_cells_and_splits(small_sites):
    sites = data.load_sites(path=small_sites)
    assert sites.tokens.shape == (48, 200) and sites.tokens.dtype == np.uint8
    assert sites.tokens.max() <= 3
    for split in data.SPLITS:
        part = data.load_sites(split, path=small_sites)
        assert np.bincount(part.cell, minlength=4).tolist() == [4, 4, 4, 4]
        assert set(part.split) == {split}
    assert data.load_sites("test").chromosome.tolist() == ["chr1"] * 16  # via $SVDD_RAY_DNA_SITES
    assert sites.sequences[0] == data.decode(sites.tokens[:1])[0]


@pytest.mark.dna_data
def test_real_table_splits_are_by_chromosome(monkeypatch):
    monkeypatch.delenv("SVDD_RAY_DNA_SITES", raising=False)
    sites = data.load_sites()
    assert len(sites) == 47872
    assert np.bincount(sites.cell).tolist() == [11968] * 4
    assert set(sites.where(sites.split == "validation").chromosome) == {"chr2"}
    assert set(sites.where(sites.split == "test").chromosome) == {"chr1"}
    training = set(sites.where(sites.split == "training").chromosome)
    assert not training & {"chr1", "chr2"}
    assert not data.GUIDE_CHROMOSOMES & data.ORACLE_CHROMOSOMES
    assert data.GUIDE_CHROMOSOMES | data.ORACLE_CHROMOSOMES == training
    assert len({row.tobytes() for row in sites.tokens}) == len(sites)


def test_encode_decode_round_trip_and_lower_case():
    seqs = ["ACGTTGCA", "acgtacgt"]
    tokens = data.encode(seqs, length=8)
    assert tokens[0].tolist() == [0, 1, 2, 3, 3, 2, 1, 0]
    assert data.decode(tokens) == ["ACGTTGCA", "ACGTACGT"]
    assert data.encode(["ACGT"], length=None).shape == (1, 4)


@pytest.mark.parametrize(
    "seqs, message",
    [
        (["ACGT", "ACNT"], r"^reads\[1\]: letter 'N' is not one of A, C, G, T$"),
        (["ACGTA"], r"^reads\[0\]: length 5, expected 4$"),
        ([b"ACGT"], r"^reads\[0\]: expected an ACGT string, got bytes$"),
        (["ACGé"], r"^reads\[0\]: letter 'é' is not one of A, C, G, T$"),
    ],
)
def test_encode_names_the_bad_row(seqs, message):
    with pytest.raises(ValueError, match=message):
        data.encode(seqs, length=4, field="reads")


def test_decode_refuses_mask_ids():
    with pytest.raises(ValueError, match="mask"):
        data.decode(np.array([[0, 4]]))


def test_reverse_complement_by_hand():
    tokens = data.encode(["AACGT"], length=5)
    assert data.decode(data.reverse_complement(tokens)) == ["ACGTT"]
    assert np.array_equal(data.reverse_complement(data.reverse_complement(tokens)), tokens)


def test_one_hot_channels():
    hot = data.one_hot(data.encode(["ACGT"], length=4))
    assert hot.shape == (1, 4, 4) and hot[0].argmax(dim=0).tolist() == [0, 1, 2, 3]


def test_missing_file_and_bad_split_are_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("SVDD_RAY_DNA_SITES", str(tmp_path / "nope.tsv"))
    with pytest.raises(ConfigError, match=r"^SVDD_RAY_DNA_SITES: no such file .*nope\.tsv$"):
        data.load_sites()
    with pytest.raises(ConfigError, match=r"^DNA split: unknown split 'train'"):
        data.load_sites("train")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(ConfigError, match=r"bad\.tsv: not a DNase-site table"):
        data.load_sites(path=bad)


def test_missing_wheel_is_one_line(monkeypatch):
    import importlib.util

    monkeypatch.delenv("SVDD_RAY_DNA_SITES", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dnadiffusion" else real(name, *a)
    )
    with pytest.raises(
        ConfigError, match=r"^DNA data: .*'dnadiffusion' is not installed; install it with `pip install"
    ):
        data.data_file()

import math

import pytest

from svdd_ray.chem import rewards as R

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
GARBAGE = ["", "   ", "xyz", "C1CC", "C(C", None, 3.5, "c1cccc1"]


def test_known_values_aspirin():
    assert R.qed([ASPIRIN])[0] == pytest.approx(0.550, abs=0.005)
    assert R.sa_raw([ASPIRIN])[0] == pytest.approx(1.58, abs=0.02)
    assert R.sa([ASPIRIN])[0] == pytest.approx((10 - 1.58) / 9, abs=0.003)
    assert R.logp([ASPIRIN])[0] == pytest.approx(1.31, abs=0.01)
    assert R.molecular_weight([ASPIRIN])[0] == pytest.approx(180.16, abs=0.01)
    assert R.penalized_logp([ASPIRIN])[0] == pytest.approx(1.31 - 1.58, abs=0.03)


def test_ring_penalties():
    big_ring = "C1CCCCCCCC1"  # cyclononane
    assert R.largest_ring_size([big_ring, "CCO", ASPIRIN]) == [9.0, 0.0, 6.0]
    assert R.ring_penalty([big_ring, "CCO", ASPIRIN]) == [3.0, 0.0, 0.0]
    assert R.ring_penalty([big_ring], max_ring_size=8) == [1.0]
    plogp = R.penalized_logp([big_ring])[0]
    assert plogp == pytest.approx(R.logp([big_ring])[0] - R.sa_raw([big_ring])[0] - 3.0)
    assert R.size_penalty(["CCO", ASPIRIN, "C" * 45]) == [7.0, 0.0, 5.0]


@pytest.mark.parametrize(
    "fn",
    [
        R.qed,
        R.sa,
        R.sa_raw,
        R.logp,
        R.penalized_logp,
        R.molecular_weight,
        R.ring_penalty,
        R.size_penalty,
        R.largest_ring_size,
    ],
)
def test_nan_for_bad_molecules(fn):
    out = fn(GARBAGE + [ASPIRIN])
    assert len(out) == len(GARBAGE) + 1
    assert all(math.isnan(v) for v in out[:-1]) and math.isfinite(out[-1])
    assert fn([]) == []
    with pytest.raises(TypeError):
        fn(ASPIRIN)  # a single string is a caller bug, not a bad molecule


def test_ranges_on_drugs():
    drugs = [ASPIRIN, "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]
    assert all(0 < q < 1 for q in R.qed(drugs))
    assert all(0 < s <= 1 for s in R.sa(drugs))


def test_canonical_key():
    assert R.canonical_key("OCC") == R.canonical_key("C(O)C") == "CCO"
    assert R.canonical_key("xyz") == "" and R.canonical_key(None) == "" and R.canonical_key("") == ""
    assert R.canonical_smiles(["OCC", "bad"]) == ["CCO", ""]


def test_weighted_sum():
    f = R.weighted_sum((R.qed, 1.0), (R.ring_penalty, -0.5))
    out = f([ASPIRIN, "C1CCCCCCCC1", "bad"])
    assert out[0] == pytest.approx(R.qed([ASPIRIN])[0])
    assert out[1] == pytest.approx(R.qed(["C1CCCCCCCC1"])[0] - 1.5)
    assert math.isnan(out[2])
    assert "qed" in f.__name__
    with pytest.raises(ValueError):
        R.weighted_sum()


def test_registry():
    from svdd_ray.plugins import BUILTINS, resolve

    for name in ("qed", "sa", "logp", "penalized_logp", "molecular_weight"):
        assert resolve("reward", name) is getattr(R, name) and name in BUILTINS["reward"]

import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from svdd_ray.chem import metrics as M

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_validity_uniqueness_novelty_by_hand():
    s = ["CCO", "OCC", "c1ccccc1", "", "xx", ASPIRIN, None]
    assert M.validity(s) == pytest.approx(4 / 7)
    assert M.uniqueness(s) == pytest.approx(3 / 4)  # CCO twice
    assert M.novelty(s, {"CCO"}) == pytest.approx(2 / 3)
    assert M.novelty(s, ["CCO", "c1ccccc1", ASPIRIN]) == 0.0
    assert math.isnan(M.validity([])) and math.isnan(M.uniqueness(["bad"])) and math.isnan(M.novelty([], set()))


def test_internal_diversity_known_answers():
    assert math.isnan(M.internal_diversity(["CCO", "OCC"]))  # one distinct molecule
    a, b, c = "CCO", "c1ccccc1", ASPIRIN
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(x)) for x in (a, b, c)]
    sims = [DataStructs.TanimotoSimilarity(fps[i], fps[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert M.internal_diversity([a, b, c, "bad"]) == pytest.approx(1 - np.mean(sims))
    assert M.internal_diversity(["CCO", "CCCO"]) == pytest.approx(1 - sims_pair("CCO", "CCCO"))
    many = [f"C{'C' * i}O" for i in range(30)]
    assert 0 < M.internal_diversity(many, max_molecules=10) < 1


def sims_pair(x, y):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    f = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in (x, y)]
    return DataStructs.TanimotoSimilarity(*f)


def test_property_distances():
    ref = ["CCO", "CCCO", ASPIRIN, "c1ccccc1"]
    d = M.property_distances(ref, ref)
    assert set(d) == {"qed", "sa", "logp", "mw"} and all(v == pytest.approx(0.0) for v in d.values())
    # shifting every molecule by one CH2 moves MW by 14.03 on average
    d = M.property_distances(["CCCO", "CCCCO"], ["CCO", "CCCO"])
    assert d["mw"] == pytest.approx(14.027, abs=0.01)
    assert math.isnan(M.property_distances(["bad"], ref)["qed"])
    values = M.property_values(ref + ["bad"])
    assert all(len(v) == 4 for v in values.values())
    assert M.property_distances(ref, values)["logp"] == pytest.approx(0.0)


def test_evaluate_keys():
    out = M.evaluate(["CCO", "CCCO", "bad"], train={"CCO"}, reference=["CCO"])
    assert out["validity"] == pytest.approx(2 / 3) and out["novelty"] == pytest.approx(0.5)
    assert {"w1_qed", "w1_sa", "w1_logp", "w1_mw", "internal_diversity", "uniqueness", "n"} <= set(out)

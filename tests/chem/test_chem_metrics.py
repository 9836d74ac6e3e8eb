import importlib.util
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
    assert out["aromatic"] == 0.0 and out["macrocycle"] == 0.0


def test_ring_fractions_count_aromatic_rings_and_macrocycles():
    # benzene and pyridine: aromatic; cyclohexane: neither; cyclononane: a 9-ring; invalid strings do not count
    out = M.ring_fractions(["c1ccccc1", "c1ccncc1", "C1CCCCC1", "C1CCCCCCCC1", "bad"])
    assert out == {"aromatic": pytest.approx(0.5), "macrocycle": pytest.approx(0.25)}
    assert M.ring_fractions(["C1CCCCCCC1", "c1ccccc1", "c1ccccc1"])["macrocycle"] == pytest.approx(0.0)  # 8: not > 8
    assert M.ring_fractions(["c1ccccc1", "c1ccccc1", "CC"])["aromatic"] == pytest.approx(2 / 3)  # duplicates count
    assert math.isnan(M.ring_fractions(["bad"])["aromatic"])


# ------------------------------------------------------------------ MOSES metrics
PAINS_RHODANINE = "S=C1SC(=Cc2ccccc2)C(=O)N1"  # 5-benzylidene rhodanine: PAINS ene_rhod_A


@pytest.fixture(scope="module")
def test_smiles():
    if importlib.util.find_spec("moses") is None:
        pytest.skip("molsets (MOSES data) not installed")
    from svdd_ray.chem.data import load_smiles

    return load_smiles("test", limit=400)


def tanimoto_1024(x, y):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return DataStructs.TanimotoSimilarity(*[gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in (x, y)])


def test_int_div_is_moses_definition_with_duplicates_and_diagonal():
    t = tanimoto_1024("CCO", ASPIRIN)
    assert M.int_div(["CCO", ASPIRIN, "bad"]) == pytest.approx(1 - (2 + 2 * t) / 4)
    # [A, A, B]: the 3x3 matrix holds five ones and four t's
    assert M.int_div(["CCO", "OCC", ASPIRIN]) == pytest.approx(1 - (5 + 4 * t) / 9)
    per_a, per_b = math.sqrt((2 + t**2) / 3), math.sqrt((1 + 2 * t**2) / 3)
    assert M.int_div(["CCO", "OCC", ASPIRIN], p=2) == pytest.approx(1 - (2 * per_a + per_b) / 3)
    assert M.int_div(["CCO"]) == 0.0 and math.isnan(M.int_div(["bad"]))


@pytest.mark.moses
def test_filters_pass_and_fail():
    assert M.passes_filters("CCO") and M.passes_filters(ASPIRIN) and M.passes_filters("C1CCCCCC1")
    assert not M.passes_filters(PAINS_RHODANINE)  # PAINS
    assert not M.passes_filters("Oc1ccccc1O")  # PAINS catechol_A
    assert not M.passes_filters("C[N+](C)(C)C")  # charged
    assert not M.passes_filters("CCP") and not M.passes_filters("CCI")  # atoms outside C N S O F Cl Br H
    assert not M.passes_filters("C1CCCCCCC1")  # ring of eight
    assert not M.passes_filters("bad")
    assert len(M.filter_patterns()) == 22 + 480  # MCF + PAINS
    # duplicates count, invalid strings do not
    assert M.filters(["CCO", "OCC", PAINS_RHODANINE, "bad"]) == pytest.approx(2 / 3)
    assert math.isnan(M.filters(["bad"]))


@pytest.mark.moses
def test_moses_test_molecules_pass_the_filters(test_smiles):
    assert M.filters(test_smiles[:200]) == 1.0  # MOSES built its splits with these filters


def test_snn_frag_scaf_of_a_set_to_itself():
    smiles = ["CCO", ASPIRIN, "c1ccc2ccccc2c1", "O=C(Nc1ccccc1)c1ccc2ccccc2c1", "C1CCC2CCCCC2C1", "bad"]
    assert M.snn(smiles, smiles) == pytest.approx(1.0)
    assert M.frag_similarity(smiles, smiles) == pytest.approx(1.0)
    assert M.scaf_similarity(smiles, smiles) == pytest.approx(1.0)
    assert M.snn(["CCO"], ["CCCO"]) == pytest.approx(tanimoto_1024("CCO", "CCCO"))
    fps = M.morgan_fingerprints(["CCCO", ASPIRIN])
    assert fps.dtype == np.uint8 and fps.shape == (2, 1024)
    assert M.snn(["CCO", "CCO", ASPIRIN], fps) == pytest.approx((2 * tanimoto_1024("CCO", "CCCO") + 1) / 3)


def test_fragment_and_scaffold_counts():
    assert M.fragment_counts(["CCO"]) == {"CCO": 1}
    frags = M.fragment_counts([ASPIRIN, ASPIRIN])
    assert sum(frags.values()) % 2 == 0 and all("*" in f for f in frags)
    # scaffolds with fewer than two rings do not count (MOSES' min_rings=2)
    assert M.scaffold_counts(["c1ccccc1CC", "CCO"]) == {}
    assert M.scaffold_counts(["O=C(Nc1ccccc1)c1ccc2ccccc2c1", "Cc1ccc(NC(=O)c2ccc3ccccc3c2)cc1"]) == {
        "O=C(Nc1ccccc1)c1ccc2ccccc2c1": 2
    }
    assert M.cosine_similarity({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(M.cosine_similarity({}, {"a": 1}))
    assert math.isnan(M.scaf_similarity(["CCO"], ["c1ccc2ccccc2c1"]))  # no scaffold on either side


def test_chemnet_input_matches_fcd_torch():
    utils = pytest.importorskip("fcd_torch.utils")
    from svdd_ray.chem.fcd import chemnet_encode

    smiles = [ASPIRIN, "CCl", "BrCC[Si](C)(C)C", "c1cc[nH]c1", "CCO.CC", "C[Se]C", "C" * 400, "Cl" * 200, ""]
    expected = np.stack([utils.get_one_hot(s, 350) / 35 for s in smiles[:-1]]).transpose(0, 2, 1)
    x = chemnet_encode(smiles)
    assert x.shape == (len(smiles), 35, 350) and x.dtype == np.float32
    assert np.allclose(x[:-1], expected) and x[-1].sum() == pytest.approx(1 / 35)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_frechet_distance_matches_the_matrix_square_root():
    utils = pytest.importorskip("fcd_torch.utils")
    from svdd_ray.chem.fcd import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(30, 8)) * 1.5 + 0.3
    args = (a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T))
    assert frechet_distance(*args) == pytest.approx(utils.calculate_frechet_distance(*args), rel=1e-6)
    assert frechet_distance(args[0], args[1], args[0], args[1]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.moses
def test_fcd_small_for_the_same_set_large_for_a_different_one(test_smiles):
    pytest.importorskip("fcd_torch")
    from svdd_ray.chem.fcd import fcd, fcd_stats

    half = fcd_stats(test_smiles[:200])
    assert half.mu.shape == (512,) and half.sigma.shape == (512, 512) and half.n == 200
    assert fcd(half, half) == pytest.approx(0.0, abs=1e-3)
    other_half = fcd_stats(test_smiles[200:400])
    odd = [f"{'C' * k}O" for k in range(1, 41)] + [f"{'C' * k}N" for k in range(1, 41)] + ["c1ccccc1", "bad"]
    near, far = fcd(half, other_half), fcd(odd, half)
    assert 0 < near < far / 3 and far > 40  # two halves of MOSES test (~13) vs alcohols and amines (~70)
    # duplicates count, like every molecule in MOSES
    dup = fcd_stats(test_smiles[:100] * 2)
    assert dup.n == 200 and np.allclose(dup.mu, fcd_stats(test_smiles[:100]).mu, atol=1e-6)
    assert math.isnan(fcd(["CCO", "bad"], half))


@pytest.mark.moses
def test_train_keys_agree_with_canonicalising(moses_train_small):
    from svdd_ray.chem._moses_noncanonical import NONCANONICAL_TRAIN

    keys = M.moses_train_keys()
    assert len(keys) > 1_580_000 and M.moses_train_keys().hashes.tobytes() == keys.hashes.tobytes()  # cached
    # the slow path's keys (canonical SMILES of each train molecule) are all in the fast set
    sample = moses_train_small[:500] + list(NONCANONICAL_TRAIN)
    slow = {M.canonical_key(s) for s in sample}
    assert all(k in keys for k in slow)
    shuffled = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True) for s in sample[:100]]
    novel = ["C" * 30, "CC(C)(C)C(C)(C)C(C)(C)C(C)(C)O"]
    assert M.novelty(shuffled + novel, keys) == pytest.approx(M.novelty(shuffled + novel, slow)) == 2 / 102
    assert M.novelty(NONCANONICAL_TRAIN, keys) == 0.0


@pytest.mark.moses
def test_train_keys_fall_back_when_rdkit_canonicalises_differently(monkeypatch):
    monkeypatch.setattr(M, "noncanonical_smiles", lambda smiles: list(smiles)[:3])
    monkeypatch.setattr(M, "moses_train_canonical", lambda cache=True: frozenset({"CCO"}))
    with pytest.warns(UserWarning, match="canonicalises 3 of 50"):
        keys = M.moses_train_keys(check=50)
    assert len(keys) == 1 and "CCO" in keys and "CCN" not in keys


@pytest.mark.moses
def test_building_the_train_key_cache_says_so_once(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SVDD_RAY_CACHE", str(tmp_path))
    monkeypatch.setattr(M, "_read_split", lambda split, limit=None: ["CCO", "CCN"])
    assert len(M.moses_train_keys(check=0)) >= 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("building the MOSES reference cache once") and str(tmp_path) in err[0]
    assert "CCO" in M.moses_train_keys(check=0) and capsys.readouterr().err == ""  # read back, silently


def test_smiles_keys():
    keys = M.SmilesKeys.from_smiles(["CCO", "CCN", "CCO"])
    assert len(keys) == 2 and "CCO" in keys and "CCC" not in keys and 3 not in keys
    assert keys.contains(["CCC", "CCN"]).tolist() == [False, True]
    more = keys.add(["CCC", "CCO"])
    assert len(more) == 3 and "CCC" in more and "CCC" not in keys
    assert M.SmilesKeys(np.zeros(0)).contains(["C"]).tolist() == [False]


@pytest.mark.moses
def test_evaluate_against_moses_test(test_smiles):
    pytest.importorskip("fcd_torch")
    stats = M.moses_test_stats()
    assert stats.fcd.mu.shape == (512,) and stats.fingerprints_by_bit.shape == (1024, 176074)
    sample = test_smiles[:48] + ["bad", test_smiles[0]]
    out = M.evaluate(sample, train=M.SmilesKeys.from_smiles(["CCO"]), test=stats)
    assert {"FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test", "IntDiv", "IntDiv2", "Filters", "novelty"} <= set(out)
    assert out["SNN/Test"] == pytest.approx(1.0)  # each is its own nearest neighbour
    assert out["Filters"] == 1.0 and out["novelty"] == 1.0 and out["validity"] == pytest.approx(49 / 50)
    assert 0.8 < out["Frag/Test"] <= 1 and 0 < out["Scaf/Test"] <= 1 and 0 < out["FCD/Test"] < 60
    assert "FCD/Test" not in M.evaluate(sample, test=stats, fcd=False)
    # the molecules domain reports the same against its own reference, and novelty alone against a plain set
    from svdd_ray.domains import load_domain

    domain = load_domain("molecules")
    reference = domain.reference()
    assert isinstance(reference, M.MosesReference) and reference.test is stats
    row = domain.metrics(sample, reference)
    assert row["novelty"] == 1.0 and row["SNN/Test"] == pytest.approx(1.0) and "n" not in row
    assert "FCD/Test" not in domain.metrics(sample, {"CCO"}) and domain.metrics(sample, {"CCO"})["novelty"] == 1.0

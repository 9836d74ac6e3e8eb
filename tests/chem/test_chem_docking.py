import math
import pickle

import pytest

from svdd_ray.chem.docking import (
    DockingReward,
    LigandError,
    list_targets,
    prepare_ligand,
    target_box,
)

OLAPARIB = "O=C(c1cc(Cc2n[nH]c(=O)c3ccccc23)ccc1F)N1CCN(C(=O)C2CC2)CC1"
SMALL_BOX = (14.0, 14.0, 14.0)  # tiny box: receptor maps in well under a second


def test_targets_from_dockstring_data():
    names = list_targets()
    assert len(names) == 58 and {"PARP1", "JAK2", "ESR1", "F2", "KIT", "PGR"} <= set(names)
    center, size = target_box("PARP1")
    assert center == pytest.approx((26.835, 11.332, 27.744)) and size == (30.0, 30.0, 30.0)


def test_bad_target_lists_valid_names():
    with pytest.raises(ValueError, match="unknown docking target 'PARP99'.*PARP1") as info:
        DockingReward("PARP99")
    assert "JAK2" in str(info.value)


def test_construction_and_overrides():
    r = DockingReward("jak2")  # case-insensitive; nothing is started yet
    assert r.target == "JAK2" and r._proc is None and r.worker_starts == 0
    r = DockingReward("PARP1", center=(1, 2, 3), size=(20, 21, 22), exhaustiveness=4, num_poses=3)
    assert r.center == (1.0, 2.0, 3.0) and r.size == (20.0, 21.0, 22.0)
    for kwargs in (
        {"size": (0, 1, 1)},
        {"center": (1, 2)},
        {"exhaustiveness": 0},
        {"timeout_s": 0},
        {"seed": -1},
        {"max_evals": -1},
        {"center": (float("nan"), 0, 0)},
    ):
        with pytest.raises(ValueError):
            DockingReward("PARP1", **kwargs)
    with pytest.raises(ValueError, match="center and size"):
        DockingReward("mine", receptor=__file__)
    with pytest.raises(FileNotFoundError):
        DockingReward("mine", receptor="/nonexistent.pdbqt", center=(0, 0, 0), size=(10, 10, 10))


@pytest.mark.parametrize(
    "smiles, reason",
    [
        ("", "empty"),
        ("xyz", "unparseable"),
        ("CCO.Cl", "fragments"),
        ("OB(O)c1ccccc1", "element"),
        ("CC[Pt]", "element"),
        ("C[Si](C)(C)C", "element"),
        ("C[CH2]", "radical"),
    ],
)
def test_ligand_preparation_rejects(smiles, reason):
    with pytest.raises(LigandError, match=reason):
        prepare_ligand(smiles)


def test_ligand_preparation_is_deterministic():
    a, b = prepare_ligand("CC(=O)Oc1ccccc1C(=O)O", seed=0), prepare_ligand("CC(=O)Oc1ccccc1C(=O)O", seed=0)
    assert a == b and "ROOT" in a and "TORSDOF" in a


def test_invalid_molecules_never_start_the_worker():
    r = DockingReward("PARP1")
    out = r(["", "xyz", None, "C1CC"])
    assert len(out) == 4 and all(math.isnan(v) for v in out)
    assert r.worker_starts == 0
    with pytest.raises(TypeError):
        r("CCO")


def test_pickles_without_worker():
    r = DockingReward("PARP1", size=SMALL_BOX)
    clone = pickle.loads(pickle.dumps(r))
    assert clone.target == "PARP1" and clone._proc is None and clone.size == SMALL_BOX


def test_dock_small_molecules_and_cache():
    with DockingReward("PARP1", size=SMALL_BOX, timeout_s=120) as r:
        out = r(["c1ccccc1O", "CCO.CC", "OCC", "B(O)(O)c1ccccc1"])
        assert 3.0 < out[0] < 8.0 and 1.0 < out[2] < 5.0  # phenol, ethanol: weak binders
        assert math.isnan(out[1]) and math.isnan(out[3])
        again = r.dock(["Oc1ccccc1"])[0]  # same molecule, other SMILES: from the cache
        assert again.reward == out[0] and "MODEL" in again.poses and r.worker_starts == 1
    assert r._proc is None


def test_max_evals_caps_the_search():
    aspirin = "CC(=O)Oc1ccccc1C(=O)O"
    with DockingReward("PARP1", size=SMALL_BOX, max_evals=50) as cheap:
        assert "max_evals=50" in repr(cheap)
        low = cheap.dock([aspirin])[0]
    with DockingReward("PARP1", size=SMALL_BOX) as full:
        high = full.dock([aspirin])[0]
    assert low.error is None and high.error is None
    assert 1.0 < low.reward < high.reward - 0.5  # 50 evaluations stop well short of the full search's pose


@pytest.mark.slow
def test_timeout_kills_and_restarts_worker():
    r = DockingReward("PARP1", exhaustiveness=32, timeout_s=1.0, size=SMALL_BOX)
    result = r.dock([OLAPARIB])[0]
    assert math.isnan(result.reward) and result.error.startswith("timed out")
    assert r._proc is None  # killed
    r.timeout_s = 120.0
    assert math.isfinite(r(["CCO"])[0]) and r.worker_starts == 2
    r.close()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_olaparib_parp1_matches_dockstring_reference():
    """dockstring's PARP1 score for olaparib is about -12.5 kcal/mol (exhaustiveness 8)."""
    with DockingReward("PARP1", exhaustiveness=8, timeout_s=600) as r:
        reward = r([OLAPARIB])[0]
    print(f"olaparib PARP1 reward (-affinity, kcal/mol): {reward:.3f}")
    assert 11.5 <= reward <= 13.5

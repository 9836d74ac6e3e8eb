import importlib.util

import pytest


@pytest.mark.moses
def test_moses_files_found_without_importing_moses():
    import sys

    from svdd_ray.chem.data import load_smiles, moses_data_dir, moses_split_path

    assert (moses_data_dir() / "train.csv.gz").is_file()
    assert moses_split_path("test").name == "test.csv.gz"
    first = load_smiles("train", limit=3)
    assert first == [
        "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1",
        "CC(C)(C)C(=O)C(Oc1ccc(Cl)cc1)n1ccnc1",
        "Cc1c(Cl)cccc1Nc1ncccc1C(=O)OCC(O)CO",
    ]
    assert "moses" not in sys.modules  # located by find_spec only


@pytest.mark.moses
def test_split_sizes():
    from svdd_ray.chem.data import load_smiles

    assert len(load_smiles("test")) == 176074
    assert len(load_smiles("train")) == 1584663


def test_missing_package_error_names_molsets(monkeypatch):
    from svdd_ray.chem import data

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match="molsets"):
        data.moses_data_dir()


def test_bad_split_name():
    from svdd_ray.chem.data import moses_split_path

    with pytest.raises(ValueError, match="train"):
        moses_split_path("validation")


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    from svdd_ray.chem.data import cache_dir

    monkeypatch.setenv("SVDD_RAY_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and cache_dir().is_dir()


def test_package_data_dir_names_what_is_missing():
    from svdd_ray.chem.data import package_data_dir

    with pytest.raises(ModuleNotFoundError, match="'no_such_package_xyz' is not installed; pip it"):
        package_data_dir("no_such_package_xyz", "data", "pip it")
    with pytest.raises(FileNotFoundError, match="has no no/such/dir directory"):
        package_data_dir("svdd_ray", "no/such/dir", "reinstall")

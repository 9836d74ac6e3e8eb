"""Domains as plug-ins: loaded by name, round-trip their objects, and reports ask the run's recorded domain."""

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from svdd_ray.cli import main
from svdd_ray.domains import Domain, GenericDomain, domain_name, load_domain
from svdd_ray.engine.output import object_cell
from svdd_ray.errors import ConfigError
from svdd_ray.plugins import BUILTINS
from svdd_ray.report import RunDirError, load_run, write_report


class ShoutDomain(Domain):
    """A domain from outside the package (``test_domains:ShoutDomain``)."""

    name = "shout"

    def display(self, obj) -> str:
        return str(obj).upper()

    def metrics(self, objects, reference=None) -> dict:
        return {"mean_length": float(np.mean([len(o) for o in objects]))}


class NotADomain:
    pass


def hand_run(path, objects, rewards, *, domain=None, model=None, method="svdd"):
    """A finished run directory written by hand (no engine): one batch and a manifest naming ``domain``."""
    path.mkdir(parents=True)
    n = len(objects)
    rows = {
        "batch": [0] * n,
        "index": list(range(n)),
        "method": [method] * n,
        "num_candidates": [4] * n,
        "alpha": [0.0] * n,
        "object": [object_cell(o) for o in objects],
        "reward": [float(r) for r in rewards],
        "invalid": [not math.isfinite(r) for r in rewards],
        "reward_calls": [n] * n,
    }
    pq.write_table(pa.table(rows), path / "batch-000000.parquet")
    manifest = {
        "status": "complete",
        "config": {"run": {"num_samples": n, "batch_size": n}, "model": model or {}},
        "totals": {"wall_time_s": 1.0, "cache_hit_rate": 0.0},
    }
    if domain is not None:
        manifest["domain"] = domain
    (path / "_manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize("name", sorted(BUILTINS["domain"]))
def test_each_builtin_domain_loads_by_name(name):
    domain = load_domain(name)
    assert isinstance(domain, Domain) and domain.name == name


def test_a_name_of_another_kind_or_nothing_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        load_domain("qed")
    assert "built-in reward, not a domain" in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(ConfigError, match="unknown domain 'molecule'.*did you mean 'molecules'"):
        load_domain("molecule")
    with pytest.raises(ConfigError, match="not a svdd_ray.domains.Domain"):
        load_domain("test_domains:NotADomain")
    assert isinstance(load_domain("test_domains:ShoutDomain"), ShoutDomain)


@pytest.mark.parametrize(
    ("name", "obj", "shown"),
    [
        ("generic", "plain text", "plain text"),
        ("generic", {"a": [1, 2]}, '{"a": [1, 2]}'),
        ("generic", [0.5, 1.5], "[0.5, 1.5]"),
        ("bitstrings", "0110", "0110"),
        ("molecules", "CC(=O)O", "CC(=O)O"),
        ("digits", np.arange(64, dtype=np.uint8).reshape(8, 8) * 4, "<image 8x8>"),
    ],
)
def test_objects_round_trip_through_the_parquet_cell(name, obj, shown):
    domain = load_domain(name)
    back = domain.from_cell(object_cell(obj))
    if isinstance(obj, np.ndarray):
        assert back.dtype == np.uint8 and np.array_equal(back, obj)
    else:
        assert back == obj
    assert domain.display(back) == shown


def test_generic_domain_draws_and_judges_nothing(tmp_path):
    domain = GenericDomain()
    assert domain.sample_grid(["a"], tmp_path / "g.png", ["1"]) is None
    assert domain.metrics(["a"], domain.reference()) == {} and domain.reference() is None


def test_molecule_metrics_on_a_few_smiles():
    pytest.importorskip("rdkit")
    domain = load_domain("molecules")
    smiles = ["CCO", "OCC", "c1ccccc1", "not a molecule"]
    without = domain.metrics(smiles)
    assert without["validity"] == 0.75 and np.isclose(without["uniqueness"], 2 / 3)
    assert 0 < without["internal_diversity"] <= 1 and "novelty" not in without
    assert domain.metrics(smiles, reference={"CCO"})["novelty"] == 0.5


def test_digit_metrics_count_distinct_images_and_need_the_split_for_naturalness():
    pytest.importorskip("sklearn")
    domain = load_domain("digits")
    split = domain.reference()
    images = [((split.train_images[i, 0].numpy() + 1) * 127.5).round().astype(np.uint8) for i in range(12)]
    assert domain.metrics(images + images[:2]) == {"distinct": 12}
    full = domain.metrics(images, split)
    assert {"distinct", "mean_max_prob", "frechet", "class_entropy", "nn_train_l2", "nn_train_l2_min"} == set(full)
    assert full["nn_train_l2_min"] < 0.1  # these are training digits
    assert 0.5 < full["mean_max_prob"] <= 1.0


def test_the_manifest_names_the_domain_and_old_runs_fall_back():
    assert domain_name({"domain": "molecules", "config": {"model": {"domain": "digits"}}}) == "molecules"
    assert domain_name({"config": {"model": {"domain": "digits"}}}) == "digits"
    assert domain_name({"config": {"model": {"factory": "moses"}}}) == "molecules"  # recorded before domains
    assert domain_name({"config": {"model": {"target": "pkg.mod:model"}}}) == "generic"
    assert domain_name({}) == "generic"


def test_the_report_asks_the_recorded_domain_and_never_guesses(tmp_path):
    pytest.importorskip("rdkit")
    smiles = ["CCO", "CCN", "CCC", "C1CC1"]  # also valid SMILES, but the run says they are bit strings
    bits = hand_run(tmp_path / "bits", smiles, [0.1, 0.2, 0.3, 0.4], domain="bitstrings")
    mols = hand_run(tmp_path / "mols", smiles, [0.1, 0.2, 0.3, 0.4], domain="molecules")
    assert isinstance(load_run(bits).domain, type(load_domain("bitstrings")))
    out = write_report([bits, mols], tmp_path / "report", references={"molecules": {"CCO"}})
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert math.isnan(summary.loc["bits", "validity"]) and summary.loc["mols", "validity"] == 1.0
    assert summary.loc["mols", "novelty"] == 0.75
    assert not (out / "top_0_bits.png").exists() and (out / "top_1_mols.png").stat().st_size > 1000
    md = (out / "summary.md").read_text()
    assert "Top objects of `mols`:" in md and "| 0.400 | C1CC1 |" in md


def test_novelty_off_asks_no_reference_and_a_plugin_domain_reports(tmp_path):
    run = hand_run(tmp_path / "words", ["ab", "abcd"], [1.0, 2.0], domain="test_domains:ShoutDomain")
    out = write_report([run], tmp_path / "report", novelty=False)
    assert pd.read_csv(out / "summary.csv").loc[0, "mean_length"] == 3.0
    assert "| 2.000 | ABCD |" in (out / "summary.md").read_text()


def test_a_run_naming_an_unknown_domain_is_one_clear_line(tmp_path, capsys):
    run = hand_run(tmp_path / "odd", ["x"], [1.0], domain="no_such_domain")
    with pytest.raises(RunDirError, match="_manifest.json: domain: unknown domain 'no_such_domain'"):
        load_run(run)
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown domain" in err and len(err.splitlines()) == 1


def test_digit_runs_get_naturalness_and_a_grid(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    images = [(im * 16).astype(np.uint8) for im in load_digits().images[:6]]
    run = hand_run(tmp_path / "digits", images, np.arange(6.0), model={"factory": "digits"})  # an old run
    out = write_report([run], tmp_path / "report", top=4)
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert row.distinct == 6 and 0 < row.mean_max_prob <= 1 and np.isfinite(row.frechet)
    assert (out / "top_0_digits.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 5.000 | <image 8x8> |" in (out / "summary.md").read_text()
    off = pd.read_csv(write_report([run], tmp_path / "off", novelty=False) / "summary.csv")
    assert "frechet" not in off and off.loc[0, "distinct"] == 6


def test_digits_write_up_from_small_runs(tmp_path):
    """The code behind jobs/digits_results.py after its runs: tables, figures and the Markdown's sections."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from experiments.digits_write_up import DigitsPlan, write_results

    labels = {"pretrained": "Pre-trained", "best_of_n": "Best-of-N", "dps": "DPS", "smc": "SMC"}
    labels |= {"svdd_mc": "SVDD-MC", "svdd_pm": "SVDD-PM"}
    titles = {"compressibility": "Compressibility (-JPEG bytes)", "digit3": "Digit 3 (log-prob of class 3)"}
    plan = DigitsPlan(titles, labels, {"pretrained": -101.4}, {"digit3": "value_digit3.pt"}, "digits", 1000)
    rng = np.random.default_rng(0)
    pool = (load_digits().images * 16).astype(np.uint8)
    runs, timings = {}, {}
    for reward in titles:
        runs[reward] = {}
        for method in labels:
            if method == "dps" and reward != "digit3":
                continue
            name = f"{reward}-{method}"
            images = list(pool[rng.choice(len(pool), 5, replace=False)])
            runs[reward][method] = hand_run(tmp_path / name, images, rng.normal(size=5), method=method)
            timings[name] = {"wall_s": 2.0, "load_avg_1m": 0.5}
    curve = {r: {1: runs[r]["pretrained"], 4: runs[r]["svdd_pm"]} for r in titles}
    (tmp_path / "value_metrics_digit3.json").write_text(
        json.dumps(
            {
                "rollouts": 10,
                "heldout_rollouts": 2,
                "reward_std": 1.0,
                "heldout": {"all": {"mse_net": 1.0, "mse_mean": 2.0, "ratio": 0.5}},
            }
        )
    )
    tuning = {"compressibility": {"smc": {0.1: -1.0}}, "digit3": {"smc": {0.1: -1.0}, "dps": {1.0: -0.5, 30.0: -0.1}}}
    settings = {"num_samples": 5, "batch_size": 5, "M": 4, "seed": 0, "smc_alpha": {"compressibility": 0.1}}
    settings |= {"dps_scale": 30.0, "tuning": tuning}
    settings["smc_alpha"]["digit3"] = 0.1
    docs = tmp_path / "docs"
    docs.mkdir()
    md = write_results(plan, settings, runs, curve, timings, tmp_path, docs, 1.0).read_text()
    for section in ("## Table 1 form", "## Observations", "## Per run", "## SVDD-MC against SVDD-PM", "## Environment"):
        assert section in md
    assert "|---|---:|---:|" in md and "| value_digit3.pt | 10 / 2 | 1.000 | 1 / 2 = 0.50 |" in md
    assert "real training 3s" in md and "**DPS at guidance scale 30**" in md
    for png in ("naturalness", "best_digit3", "svdd_vs_m", "reward_distributions_compressibility"):
        assert (docs / f"digits_{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["tuning"]["digit3"]["dps"] == {
        "1.0": -0.5,
        "30.0": -0.1,
    }


def test_generic_objects_are_listed_short_and_table_safe(tmp_path):
    run = hand_run(tmp_path / "vectors", [list(range(100)), {"label": "a|b"}], [1.0, 2.0])  # no domain: generic
    assert load_run(run).domain.name == "generic"
    md = (write_report([run], tmp_path / "report") / "summary.md").read_text()
    assert '| 2.000 | {"label": "a\\|b"} |' in md
    listed = next(line for line in md.splitlines() if line.startswith("| 1.000 | [0, 1, 2"))
    assert listed.endswith("... |")
    assert len(listed) < 140

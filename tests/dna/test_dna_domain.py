import numpy as np
import pytest

from svdd_ray.dna.data import decode
from svdd_ray.dna.metrics import iid_tokens
from svdd_ray.domains import load_domain
from svdd_ray.engine.output import object_cell


def test_dna_objects_are_text_and_the_model_names_its_domain():
    from svdd_ray.plugins import domain_of_model

    domain = load_domain("dna")
    seq = "ACGT" * 50
    assert domain.from_cell(object_cell(seq)) == seq and domain.display(seq) == seq
    assert domain_of_model("dna") == "dna"


def test_metrics_against_a_reference_and_without(small_sites):
    domain = load_domain("dna")
    designs = decode(iid_tokens(32, 200, np.ones(4), seed=0))
    alone = domain.metrics(designs)
    assert set(alone) == {
        *("gc", "longest_homopolymer", "diversity", "uniqueness"),
        *("oracle_median", "oracle_p90", "prior_nll"),  # need no reference set
    }
    reference = domain.reference()  # HepG2 test rows of the fixture
    assert reference.shape == (4, 200)
    judged = domain.metrics(designs, reference)
    assert {"kmer3_r", "kmer6_r", "motif_rho"} <= set(judged)
    assert -1.0 <= judged["kmer6_r"] <= 1.0


def test_reference_is_none_without_the_data(monkeypatch, tmp_path):
    monkeypatch.setenv("SVDD_RAY_DNA_SITES", str(tmp_path / "missing.tsv"))
    assert load_domain("dna").reference() is None


def test_logo_of_top_designs_is_drawn(tmp_path):
    domain = load_domain("dna")
    designs = ["ACGT" * 50, "ACGA" * 50, "TCGT" * 50]
    path = domain.sample_grid(designs, tmp_path / "logo.png", ["3.1", "2.0", "1.5"])
    assert path.is_file() and path.stat().st_size > 1000
    assert domain.sample_grid([], tmp_path / "none.png", []) is None


def test_bad_objects_in_metrics_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^dna objects\[1\]: letter 'N'"):
        load_domain("dna").metrics(["ACGT", "ACGN"])

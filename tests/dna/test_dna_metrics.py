import math

import numpy as np
import pytest

from svdd_ray.dna import metrics
from svdd_ray.dna.data import encode


def test_kmer_spectrum_by_hand():
    tokens = encode(["AACA"], length=4)
    spectrum = metrics.kmer_spectrum(tokens, 2)  # AA, AC, CA
    assert spectrum.shape == (16,) and math.isclose(spectrum.sum(), 1.0)
    assert np.flatnonzero(spectrum).tolist() == [0, 1, 4]  # AA=0, AC=1, CA=4
    assert metrics.kmer_correlation(tokens, tokens, 2) == pytest.approx(1.0)


def test_gc_homopolymer_uniqueness_diversity_by_hand():
    tokens = encode(["GGGCAT", "AAAAAT", "GGGCAT"], length=6)
    assert metrics.gc_content(tokens).tolist() == pytest.approx([4 / 6, 0.0, 4 / 6])
    assert metrics.longest_homopolymer(tokens).tolist() == [3, 5, 3]
    assert metrics.uniqueness(tokens) == pytest.approx(2 / 3)
    # pairs: (0,1) differ at 4 of 6, (0,2) identical, (1,2) differ at 4 of 6
    assert metrics.diversity(tokens) == pytest.approx((4 / 6 + 0 + 4 / 6) / 3)


def test_iid_floor_values():
    iid = metrics.iid_tokens(400, 200, np.array([0.3, 0.2, 0.2, 0.3]), seed=1)
    assert metrics.gc_content(iid).mean() == pytest.approx(0.4, abs=0.01)
    uniform = metrics.iid_tokens(400, 200, np.ones(4), seed=2)
    assert metrics.diversity(uniform) == pytest.approx(0.75, abs=0.01)
    # a Markov chain of any order fitted on uniform letters scores them at about log(4) nats per base
    other = metrics.iid_tokens(2000, 200, np.ones(4), seed=3)
    assert metrics.markov_nll(other, uniform, order=2) == pytest.approx(math.log(4), abs=0.01)


def test_markov_nll_learns_a_repeat():
    repeat = encode(["ACGT" * 50] * 20)
    assert metrics.markov_nll(repeat, repeat[:2], order=3) < 0.1
    assert metrics.markov_nll(repeat, repeat[:2], order=0) == pytest.approx(math.log(4), abs=0.01)


def test_evaluate_against_itself():
    tokens = metrics.iid_tokens(64, 200, np.ones(4), seed=0)
    row = metrics.evaluate(tokens, reference=tokens, motifs=False)
    assert row["kmer3_r"] == pytest.approx(1.0) and row["kmer6_r"] == pytest.approx(1.0)
    assert row["n"] == 64 and row["uniqueness"] == 1.0


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"expected \[n, L\] DNA tokens"):
        metrics.gc_content(np.zeros(5))


def test_nearest_identity_finds_copies_on_either_strand():
    from svdd_ray.dna.data import reverse_complement
    from svdd_ray.dna.metrics import nearest_identity

    rng = np.random.default_rng(0)
    reference = rng.integers(0, 4, (50, 200))
    mutated = reference[7].copy()
    mutated[:20] = (mutated[:20] + 1) % 4  # 10% of positions changed
    designs = np.stack([reference[3], reverse_complement(reference[5:6])[0], mutated, rng.integers(0, 4, 200)])
    identity = nearest_identity(designs, reference, chunk=3)
    assert identity[:3].tolist() == [1.0, 1.0, 0.9]
    assert 0.3 < identity[3] < 0.5  # unrelated: about 1/4 per position, the best of 100 a little more

"""JASPAR motif scanning, hit thresholds, the motif-frequency Spearman and the ``LiverMotifs`` reward."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from svdd_ray.dna import motifs as M
from svdd_ray.dna.data import decode, encode, load_sites, reverse_complement
from svdd_ray.errors import ConfigError
from svdd_ray.plugins import build

torch.set_num_threads(1)

# A width-3 PWM (rows A, C, G, T) with integer scores, consensus ACG = 3 + 2 + 4 = 9, and a width-2
# one (consensus GA = 4) padded with a zero column: hand-computable window scores.
PWM3 = [[3, -1, -2], [-1, 2, -1], [-1, 0, 4], [-2, -1, 0]]
PWM2 = [[-1, 2, 0], [-1, -1, 0], [2, -1, 0], [-1, -1, 0]]


def hand_set() -> M.MotifSet:
    pwms = np.array([PWM3, PWM2], dtype=np.float32)
    return M.MotifSet(
        ids=("X1.1", "X2.1"),
        names=("three", "two"),
        pwms=pwms,
        widths=np.array([3, 2]),
        thresholds=np.array([9.0, 4.0]),
        min_scores=np.array([-5.0, -2.0]),
        max_scores=np.array([9.0, 4.0]),
    )


def random_seqs(n: int, length: int = 200, seed: int = 0) -> list[str]:
    return decode(np.random.default_rng(seed).integers(0, 4, (n, length)))


def brute_scan(tokens: np.ndarray, motifs: M.MotifSet) -> np.ndarray:
    """Plain loops: every full window of both strands."""
    out = np.full((len(tokens), len(motifs)), -np.inf)
    for i, seq in enumerate(tokens):
        for k in range(len(motifs)):
            w = int(motifs.widths[k])
            pwm = motifs.pwms[k, :, :w].astype(np.float64)
            for strand in (seq, reverse_complement(seq)):
                for start in range(len(strand) - w + 1):
                    out[i, k] = max(out[i, k], pwm[strand[start : start + w], np.arange(w)].sum())
    return out


def test_scan_hand_computed_both_strands():
    motifs = hand_set()
    # Forward TTCGTT: best window TCG = -2 + 2 + 4 = 4. Its reverse complement AACGAA holds ACG = 9.
    # Width 2: best forward GT = 2 - 1 = 1; reverse strand GA = 2 + 2 = 4.
    scores = M.scan(encode("TTCGTT", length=None), motifs)
    np.testing.assert_allclose(scores, [[9.0, 4.0]])
    # The forward strand when it is the better one: ACGAAA holds ACG = 9, its reverse TTTCGT only TCG = 4.
    np.testing.assert_allclose(M.scan(encode("ACGAAA", length=None), motifs)[:, 0], [9.0])


def test_scan_windows_stay_inside_the_sequence():
    motifs = hand_set()
    # TTTTAC: forward windows TTT -3, TTT -3, TTA -5, TAC -4; reverse GTAAAA: GTA -4, TAA -5, AAA 0, AAA 0.
    # A window running off the end would see "AC" + padding = 5 (or "AA" + padding = 2).
    np.testing.assert_allclose(M.scan(encode("TTTTAC", length=None), motifs)[:, 0], [0.0])
    # The last full window counts: width 2 finds GA at the very end (start L - 2).
    np.testing.assert_allclose(M.scan(encode("TTTTGA", length=None), motifs)[:, 1], [4.0])
    # Two letters: no window for width 3 (-inf), one for width 2 (CC = -1 - 1; GG reverse = 2 - 1).
    np.testing.assert_allclose(M.scan(encode("CC", length=None), motifs), [[-np.inf, 1.0]])


def test_scan_matches_brute_force_on_real_motifs():
    everything = M.load_motifs()
    longest = [everything.ids[i] for i in np.argsort(everything.widths)[-3:]]
    motifs = M.load_motifs(list(M.LIVER_MOTIFS.values()) + ["MA0139", "MA0079"] + longest)
    rng = np.random.default_rng(1)
    for length in (60, 25):
        tokens = rng.integers(0, 4, (3, length))
        expected = brute_scan(tokens, motifs)
        got = M.scan(tokens, motifs)
        assert np.array_equal(np.isinf(got), np.isinf(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], atol=1e-4)
    # Torch tokens and strings give the same as numpy tokens.
    np.testing.assert_array_equal(M.scan(torch.as_tensor(tokens), motifs), M.scan(decode(tokens), motifs))


def test_shipped_motif_file():
    motifs = M.load_motifs()
    assert M.MOTIF_FILE.stat().st_size < 400_000
    assert motifs.release.startswith("JASPAR")
    assert 500 < len(motifs) < 2000
    assert len(set(motifs.ids)) == len(motifs)
    assert all(i.startswith("MA") and "." in i for i in motifs.ids)
    assert motifs.pwms.shape == (len(motifs), 4, motifs.widths.max())
    # Log-odds are zero exactly on the padding and nowhere constant inside the motif.
    inside = np.arange(motifs.pwms.shape[2])[None, :] < motifs.widths[:, None]
    assert not motifs.pwms.transpose(0, 2, 1)[~inside].any()
    assert (np.ptp(motifs.pwms, axis=1)[inside] > 0).all()
    assert (motifs.min_scores < motifs.thresholds).all() and (motifs.thresholds <= motifs.max_scores).all()

    liver = M.load_motifs(list(M.LIVER_MOTIFS.values()))
    assert liver.names == tuple(M.LIVER_MOTIFS)
    assert [i.split(".")[0] for i in liver.ids] == list(M.LIVER_MOTIFS.values())
    # Any version suffix or case gives the shipped version; the order asked for is kept.
    assert M.load_motifs(["ma0047.1", "MA0114"]).ids == (liver.ids[3], liver.ids[0])
    with pytest.raises(ValueError, match="MA9999"):
        M.load_motifs(["MA0114", "MA9999"])


def test_threshold_is_the_p_1e4_score():
    foxa2 = M.load_motifs(["MA0047"])
    w = int(foxa2.widths[0])
    assert w <= 9  # all 4**w k-mers enumerable
    kmers = np.array(list(itertools.product(range(4), repeat=w)))
    scores = foxa2.pwms[0, :, :w].astype(np.float64)[kmers, np.arange(w)].sum(axis=1)
    threshold = foxa2.thresholds[0]
    # Exact tail probability under the uniform background, up to the 0.01-bit rounding grid.
    assert (scores >= threshold - 1e-6).mean() <= M.P_VALUE
    assert (scores >= threshold - 0.05).mean() > M.P_VALUE
    # Motifs too short to reach p = 1e-4 hit only on a best-possible match.
    motifs = M.load_motifs()
    short = motifs.widths <= 5
    np.testing.assert_allclose(motifs.thresholds[short], motifs.max_scores[short])


def test_consensus_hits_and_poly_a_does_not():
    liver = M.load_motifs(list(M.LIVER_MOTIFS.values()))
    background = random_seqs(1, seed=3)[0]
    planted = []
    for pwm, w in zip(liver.pwms, liver.widths):
        consensus = "".join("ACGT"[i] for i in pwm[:, :w].argmax(axis=0))
        planted.append(background[:90] + consensus + background[90 + len(consensus) :])
    hits = M.hit_matrix(planted, liver)
    assert hits.diagonal().all()
    # The consensus scores the maximum; its reverse complement too (the other strand).
    np.testing.assert_allclose(M.scan(planted, liver).diagonal(), liver.max_scores, atol=1e-4)
    rc = decode(reverse_complement(encode(planted)))
    np.testing.assert_allclose(M.scan(rc, liver).diagonal(), liver.max_scores, atol=1e-4)
    # Poly-A hits none of the liver motifs (HNF4A's best poly-A window scores about -4.9 bits).
    poly_a = np.zeros((1, 200), dtype=np.uint8)
    assert not M.hit_matrix(poly_a, liver).any()
    assert M.scan(poly_a, liver)[0, 0] < 0 < liver.thresholds[0]


def test_motif_frequencies_of_random_sequences():
    hnf4a = M.load_motifs(["MA0114"])
    # 2 strands x 192 windows at p <= 1e-4 each: about 3.8% of random sequences hit.
    freq = M.motif_frequencies(random_seqs(2000, seed=4), hnf4a)
    assert freq.shape == (1,) and 0.015 < freq[0] < 0.07


def test_liver_motifs_reward():
    reward = M.LiverMotifs()
    randoms = random_seqs(64, seed=5)
    planted = []
    consensus = ["CAAAGTCCA", "GTTAATGATTAAC", "ATTGCACAAT", "TGTAAACA"]
    for seq in randoms[:16]:
        seq = list(seq)
        for j, site in enumerate(consensus):
            seq[10 + 45 * j : 10 + 45 * j + len(site)] = site
        planted.append("".join(seq).lower())
    random_scores = np.array(reward(randoms))
    planted_scores = np.array(reward(planted))
    assert ((0 <= random_scores) & (random_scores < 1)).all()
    np.testing.assert_allclose(planted_scores, 1.0, atol=1e-5)
    assert planted_scores.min() > random_scores.max()
    np.testing.assert_array_equal(reward.hits(planted), 4)
    assert reward.hits(randoms).mean() < 1
    assert reward.canonical_key("acgT") == "ACGT"
    # A subset by name or ID; built through the plugin table too.
    assert M.LiverMotifs(["HNF4A", "MA0047"]).motifs.names == ("HNF4A", "FOXA2")
    built = build("reward", "liver_motifs", {"motifs": ["HNF1A"]})
    assert built([planted[0]]) == pytest.approx([1.0])
    with pytest.raises(ConfigError, match="MA9999"):
        build("reward", "liver_motifs", {"motifs": ["MA9999"]})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("N" + "A" * 199, r"sequences\[2\]: letter 'N'"),
        ("A" * 150, r"sequences\[2\]: length 150, expected 200"),
        (12, r"sequences\[2\]: expected an ACGT string, got int"),
    ],
)
def test_liver_motifs_bad_input(bad, message):
    reward = M.LiverMotifs()
    batch = random_seqs(2) + [bad]
    for method in (reward, reward.hits):
        with pytest.raises(ValueError, match=message) as err:
            method(batch)
        assert "\n" not in str(err.value) and "liver_motifs" in str(err.value)
    with pytest.raises(ValueError, match="length 200, expected 100"):
        M.LiverMotifs(length=100)(random_seqs(1))


def test_motif_spearman(small_sites):
    hepg2 = load_sites().where(load_sites().cell == 0).tokens
    assert len(hepg2) == 12
    assert M.motif_spearman(hepg2, hepg2) == pytest.approx(1.0)
    # Scanning both strands: reverse complements have the same motif frequencies.
    assert M.motif_spearman(hepg2, reverse_complement(hepg2)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    shuffled = np.array([rng.permutation(seq) for seq in hepg2])
    assert M.motif_spearman(hepg2, shuffled) < 0.5

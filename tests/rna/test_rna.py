"""RNA: the uniform prior, the ViennaRNA rewards, the targets, the domain and one engine run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

RNA = pytest.importorskip("RNA")

from svdd_ray import engine, plugins  # noqa: E402
from svdd_ray.config import Config, from_dict  # noqa: E402
from svdd_ray.domains import load_domain  # noqa: E402
from svdd_ray.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
from svdd_ray.rewards import canonical_key, score_safely  # noqa: E402
from svdd_ray.rna.domain import RnaDomain, mean_pairwise_hamming, sequence_metrics  # noqa: E402
from svdd_ray.rna.prior import decode, encode, load_prior  # noqa: E402
from svdd_ray.rna.rewards import TargetStructure, parse_target, stability  # noqa: E402
from svdd_ray.rna.targets import TARGETS  # noqa: E402
from svdd_ray.samplers import final_states  # noqa: E402

HAIRPIN = "GGGGAAAACCCC"  # folds into ((((....)))) at 37 °C
HAIRPIN_TARGET = "((((....))))"


# ------------------------------------------------------------------ rewards
def test_a_perfect_hairpin_solves_its_target_and_unstructured_rna_does_not():
    reward = TargetStructure(HAIRPIN_TARGET)
    assert reward([HAIRPIN, "A" * 12]) == [0.0, -4.0]  # poly-A pairs nothing: the 4 target pairs are missing
    assert reward.distances([HAIRPIN]) == [0]
    assert math.copysign(1.0, reward([HAIRPIN])[0]) == 1.0  # 0.0, not -0.0


def test_stability_is_minus_mfe_per_nucleotide():
    structure, mfe = RNA.fold(HAIRPIN)
    assert structure == HAIRPIN_TARGET and mfe < 0
    assert stability(["A" * 30]) == [0.0]  # poly-A forms no structure: MFE 0
    assert stability([HAIRPIN]) == pytest.approx([-mfe / 12])


def test_t_reads_as_u_and_case_does_not_matter():
    assert stability(["gggguuuucccc"]) == stability(["GGGGTTTTCCCC"]) == stability(["GGGGUUUUCCCC"])
    reward = TargetStructure(HAIRPIN_TARGET)
    assert reward(["ggggaaaacccc"]) == [0.0]


def test_n_is_an_unknown_base_that_pairs_with_nothing():
    assert stability(["N" * 20]) == [0.0]
    assert TargetStructure(HAIRPIN_TARGET)(["GGGGNNNNCCCC"]) == [0.0]  # the loop may be anything


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (["ACGX"], r"sequences\[0\]: 'X' at position 3"),
        (["ACGU", 5], r"sequences\[1\]: expected an RNA string, got int"),
        ([""], r"sequences\[0\]: empty sequence"),
        ("ACGU", r"sequences: expected a list of RNA strings, got str"),
    ],
)
def test_bad_sequences_raise_one_line_naming_the_row(objects, message):
    for reward in (stability, TargetStructure("((...))")):
        with pytest.raises(ValueError, match=message) as err:
            reward(objects)
        assert "\n" not in str(err.value)


def test_a_length_other_than_the_targets_is_refused_and_scored_invalid_by_the_engine():
    reward = TargetStructure(HAIRPIN_TARGET)
    with pytest.raises(ValueError, match=r"sequences\[1\]: length 11, the target structure has 12"):
        reward([HAIRPIN, HAIRPIN[:-1]])
    scores = score_safely(reward, [HAIRPIN, HAIRPIN[:-1], "ACGUACGUACGZ"])
    assert scores[0] == 0.0 and math.isnan(scores[1]) and math.isnan(scores[2])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("((...)", r"target: unbalanced '\(' at position 0"),
        ("(...))", r"target: unbalanced '\)' at position 5"),
        ("((..x))", r"target: 'x' at position 4"),
        ("((.))", r"target: the hairpin closed by \(1, 3\) has 1 unpaired bases"),
        ("", r"target: expected a dot-bracket"),
        (7, r"target: expected a dot-bracket"),
        ("hairpin31", r"target: 'hairpin31' is neither a dot-bracket string nor a target"),
    ],
)
def test_bad_targets_raise_config_errors_naming_target(target, message):
    with pytest.raises(ConfigError, match=message) as err:
        TargetStructure(target)
    assert "\n" not in str(err.value)


def test_a_bad_target_in_a_config_names_the_options_key():
    with pytest.raises(ConfigError, match=r"^reward\.components\[0\]\.options: target: unbalanced"):
        plugins.build("reward", "rna_structure", {"target": "(((...))"}, key="reward.components[0].target")


def test_cache_keys_normalise_sequences_and_hold_the_target():
    assert canonical_key(stability, "acgt") == canonical_key(stability, "ACGU") == "ACGU"
    one, two = TargetStructure(HAIRPIN_TARGET), TargetStructure("(((....)))..")
    assert canonical_key(one, "ggggaaaacccc") == f"{HAIRPIN_TARGET}|{HAIRPIN}"
    assert canonical_key(one, HAIRPIN) != canonical_key(two, HAIRPIN)
    assert canonical_key(stability, 5) == "5"  # not RNA: keyed by its text, scored invalid


def test_targets_by_name_and_every_shipped_target_is_valid():
    assert TargetStructure("hairpin30").target == TARGETS["hairpin30"].structure
    assert 6 <= len(TARGETS) <= 10
    for t in TARGETS.values():
        assert 30 <= t.length <= 80, t.name
        assert len(parse_target(t.structure)) == t.pairs
    assert any(_has_multiloop(t.structure) for t in TARGETS.values())
    assert not _has_multiloop(TARGETS["two_hairpins50"].structure)


def _has_multiloop(structure: str) -> bool:
    """Whether some base pair closes a loop with two or more helices inside it."""
    stack, children = [-1], {}
    for i, c in enumerate(structure):
        if c == "(":
            children[stack[-1]] = children.get(stack[-1], 0) + 1
            stack.append(i)
        elif c == ")":
            stack.pop()
    return any(n >= 2 for opened, n in children.items() if opened >= 0)


@pytest.mark.parametrize("name", ["hairpin30", "bulge_hairpin40", "two_hairpins50"])
def test_short_targets_are_solvable_by_rnainverse(name):
    target = TARGETS[name].structure
    RNA.init_rand(1)
    rng = np.random.default_rng(0)
    solved = False
    for _ in range(5):
        start = "".join(rng.choice(list("ACGU"), len(target)))
        seq, _ = RNA.inverse_fold(start, target)
        if TargetStructure(target)([seq]) == [0.0]:
            solved = True
            break
    assert solved


# ------------------------------------------------------------------ the prior
def test_the_prior_samples_iid_uniform_bases():
    """Chi-square tests with a fixed seed: letters, letters per position, and adjacent pairs."""
    model = load_prior(length=20, num_steps=10)
    x = final_states(model, 2000, torch.Generator().manual_seed(0)).numpy()
    assert x.shape == (2000, 20) and x.min() >= 0 and x.max() <= 3  # no mask left
    counts = np.bincount(x.ravel(), minlength=4)
    assert _chi2(counts) < 16.27  # 3 df, p = 0.001
    per_position = np.stack([np.bincount(x[:, j], minlength=4) for j in range(20)])
    assert sum(_chi2(c) for c in per_position) < 99.6  # 60 df, p = 0.001
    pairs = np.bincount((x[:, :-1] * 4 + x[:, 1:]).ravel(), minlength=16)
    assert _chi2(pairs) < 37.7  # 15 df, p = 0.001


def _chi2(counts: np.ndarray) -> float:
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


def test_the_prior_is_deterministic_under_seeds():
    model = load_prior(length=16, num_steps=8)
    a = final_states(model, 8, torch.Generator().manual_seed(3))
    b = final_states(model, 8, torch.Generator().manual_seed(3))
    c = final_states(model, 8, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("completion", ["shared", "sample", "unpaired", "argmax"])
def test_predict_x0_keeps_revealed_bases_and_is_a_function_of_the_state(completion):
    model = load_prior(length=24, num_steps=6, completion=completion)
    g = torch.Generator().manual_seed(0)
    x = model.propose(model.propose(model.sample_prior(6, g), 6, g), 5, g)
    masked = x == model.mask_id
    assert masked.any() and (~masked).any()
    guess = model.predict_x0(x, 4)
    assert torch.equal(guess[~masked], x[~masked])
    assert torch.equal(guess, model.predict_x0(x.clone(), 4))  # same state, same completion
    assert torch.equal(model.predict_x0(x, 0), x)
    objects = model.decode(guess)
    if completion == "unpaired":
        assert all(("N" in s) == bool(m.any()) for s, m in zip(objects, masked))
    else:
        assert not any("N" in s for s in objects)
    if completion == "argmax":
        assert (guess[masked] == 0).all()  # all A: why the base class's fill is no value here


def test_shared_completion_is_common_to_the_states_of_a_step_and_changes_with_the_step():
    model = load_prior(length=30, num_steps=6, completion="shared")
    x = torch.full((3, 30), model.mask_id)
    assert (model.predict_x0(x, 3) == model.predict_x0(x, 3)[0]).all()
    assert not torch.equal(model.predict_x0(x, 3), model.predict_x0(x, 2))
    other = load_prior(length=30, num_steps=6, completion="shared", completion_seed=1)
    assert not torch.equal(model.predict_x0(x, 3), other.predict_x0(x, 3))


def test_encode_decode_round_trip_and_masks_decode_as_n():
    x = encode(["ACGU", "uuTa"])
    assert decode(x) == ["ACGU", "UUUA"]
    assert decode(torch.tensor([[0, 4, 3]])) == ["ANU"]
    with pytest.raises(ValueError, match=r"sequences\[1\]: letter 'X'"):
        encode(["ACGU", "ACGX"])


def test_bad_prior_options_name_the_option():
    with pytest.raises(ConfigError, match=r"^model\.options: completion: must be one of"):
        plugins.build("model", "rna", {"completion": "mean"}, key="model.target")
    with pytest.raises(ConfigError, match=r"^model\.options: length: must be an integer >= 1"):
        plugins.build("model", "rna", {"length": 0}, key="model.target")
    with pytest.raises(ConfigError, match=r"^model\.options: .*unexpected keyword"):
        plugins.build("model", "rna", {"size": 3}, key="model.target")


# ------------------------------------------------------------------ the domain
def test_domain_metrics_by_hand():
    assert isinstance(load_domain("rna"), RnaDomain)
    assert mean_pairwise_hamming(["AAAA", "AAAA"]) == 0.0
    assert mean_pairwise_hamming(["AAAA", "CCCC", "AAAA"]) == pytest.approx(2 / 3)
    assert mean_pairwise_hamming(["AA", "AAAA"]) == pytest.approx(0.5)  # the overhang counts
    out = sequence_metrics(["GGGGAAAACCCC", "GGGGAAAACCCC", "AAAAAAAAAAAA", None])
    assert out["validity"] == 0.75 and out["uniqueness"] == pytest.approx(2 / 3)
    assert out["gc_content"] == pytest.approx((8 / 12 * 2) / 3)
    assert out["mfe_median"] < 0 and out["paired_fraction"] == pytest.approx((8 / 12 * 2) / 3)


# ------------------------------------------------------------------ one engine run
def _config(out, method: str, num_candidates: int) -> Config:
    data = {
        "run": {
            "method": method,
            "num_samples": 8,
            "batch_size": 8,
            "num_candidates": num_candidates,
            "seed": 0,
            "output_dir": str(out),
        },
        "model": {"target": "rna", "options": {"length": 30, "num_steps": 15}},
        "reward": {"components": [{"target": "rna_structure", "options": {"target": "hairpin30"}}]},
        "resources": {"backend": "local"},
    }
    return from_dict(Config, data, "config")


def test_svdd_beats_pretrained_on_an_easy_hairpin_through_the_engine(tmp_path):
    engine.run(_config(tmp_path / "pretrained", "pretrained", 1))
    _, totals = engine.run(_config(tmp_path / "svdd", "svdd", 8))
    plain, guided = pd.read_parquet(tmp_path / "pretrained"), pd.read_parquet(tmp_path / "svdd")
    assert not guided.invalid.any() and guided.object.str.fullmatch("[ACGU]{30}").all()
    assert guided.reward.mean() > plain.reward.mean() + 3  # base pairs closer to the target, on average
    assert 0 < totals["reward_calls"] <= 8 * 8 * 15

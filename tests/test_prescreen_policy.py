"""The pre-screening policy alone: what it chooses to score, what it guesses, what it learns from."""

import math

import numpy as np
import pytest
from engine_helpers import component, read_samples, small_config

from svdd_ray import engine
from svdd_ray.config import PluginSpec, PrescreenConfig
from svdd_ray.demo import ones
from svdd_ray.surrogates import PrescreenPolicy, first_objects

pytestmark = pytest.mark.timeout(120)


class CountingOnes:
    """A toy surrogate: predicts the number of '1's, and records what it is fitted on."""

    def __init__(self) -> None:
        self.fits: list[tuple[list, list]] = []

    def fit(self, objects, scores) -> None:
        self.fits.append((list(objects), list(scores)))

    def predict(self, objects) -> np.ndarray:
        return np.array([float(s.count("1")) for s in objects])


def policy(surrogate=None, *, seed=0, batch=0, **plan) -> PrescreenPolicy:
    options = {"keep": 0.5, "explore": 0.0, "min_scored": 2, **plan}
    config = PrescreenConfig(surrogate=PluginSpec("toy"), **options)
    return PrescreenPolicy(surrogate or CountingOnes(), config, seed=seed, batch=batch)


STRINGS = ["0000", "1111", "0011", "0111", "0001", "1111"]  # "1111" twice: one key


def keyed(strings):
    return [f"k{s}" for s in strings], strings


def test_first_objects_keeps_each_keys_first_object_in_order():
    assert first_objects(["b", "a", "b"], [1, 2, 3]) == {"b": 1, "a": 2}


def test_it_scores_everything_until_it_has_learned_min_scored_scores():
    surrogate = CountingOnes()
    screen = policy(surrogate, min_scored=2)
    keys, objects = keyed(STRINGS)
    choice = screen.choose(keys, objects, step=1)
    assert choice.score == ["k0000", "k1111", "k0011", "k0111", "k0001"] and choice.guesses == {}
    screen.learn(keys[:1], objects[:1], {"k0000": 0.0})
    assert screen.choose(keys, objects, step=2).guesses == {}  # one score learned, two needed
    assert surrogate.fits == []


def test_it_scores_the_top_share_and_guesses_the_rest():
    surrogate = CountingOnes()
    screen = policy(surrogate, keep=0.4, min_scored=2)
    screen.learn(["a", "b", "a"], ["01", "11", "00"], {"a": 0.5, "b": 1.0})
    keys, objects = keyed(STRINGS)
    choice = screen.choose(keys, objects, step=3)
    assert surrogate.fits == [(["01", "11"], [0.5, 1.0])]  # refitted on what it learned, first object per key
    assert choice.score == ["k1111", "k0111"]  # ceil(0.4 * 5 distinct) = 2 best
    assert choice.guesses == {"k0000": 0.0, "k0011": 2.0, "k0001": 1.0}


def test_it_learns_real_scores_only_and_each_key_once():
    screen = policy(keep=0.4, min_scored=1)
    screen.learn(["a"], ["0"], {"a": 0.0})
    keys, objects = keyed(STRINGS)
    choice = screen.choose(keys, objects, step=2)
    real = {"k1111": 4.0, "k0111": 3.0, "a": 9.0}
    screen.learn(keys + ["a"], objects + ["other"], {**real, **choice.guesses})
    assert screen.seen == {"a": ("0", 0.0), "k1111": ("1111", 4.0), "k0111": ("0111", 3.0)}


def test_exploration_is_drawn_from_seed_batch_and_step():
    def choices(seed, batch, step):
        screen = policy(keep=0.5, explore=0.5, min_scored=0, seed=seed, batch=batch)
        keys = [f"k{i:02d}" for i in range(16)]
        return tuple(screen.choose(keys, [format(i, "04b") for i in range(16)], step=step).score)

    assert choices(3, 1, 2) == choices(3, 1, 2)
    assert len({choices(3, 1, step) for step in range(1, 9)}) > 1
    assert len({choices(3, batch, 2) for batch in range(8)}) > 1


def test_final_candidates_are_picked_per_chain_and_the_rest_get_nan():
    keys, objects = keyed(["0001", "0111", "0011", "1111", "0000", "0001"])  # 2 chains of 3
    assert policy(min_scored=0).choose(keys, objects, step=1, final=True, chains=2).guesses == {}  # final: False
    choice = policy(keep=0.3, min_scored=0, final=True).choose(keys, objects, step=1, final=True, chains=2)
    assert choice.score == ["k0111", "k1111"]  # the best of each chain
    assert set(choice.guesses) == {"k0001", "k0011", "k0000"}
    assert all(math.isnan(v) for v in choice.guesses.values())


def test_a_component_prescreened_early_only_runs_past_its_window(tmp_path):
    """A pre-screened component whose steps end before the run does learns nothing where it does not score."""
    plan = {"surrogate": {"target": "onehot_ridge", "options": {"l2": 0.1}}, "keep": 0.25, "min_scored": 4}
    early = component("ones", steps=[0.0, 0.6], prescreen=plan)
    late = {**component("ones"), "name": "late", "steps": [0.6, 1.0]}
    config = small_config(tmp_path / "run", rewards=[early, late])
    config.model.options = {"length": 16, "num_steps": 6}
    _, totals = engine.run(config)
    frame = read_samples(tmp_path / "run")
    assert totals["surrogate_values"] > 0 and frame.reward_late.tolist() == ones(frame.object.tolist())

"""Multi-fidelity value plans: reward components and value networks limited to parts of the reverse process."""

import json
import math

import pandas as pd
import pytest
import torch
from engine_helpers import CountingOnes, component, read_samples, small_config

from svdd_ray import engine
from svdd_ray.config import ConfigError
from svdd_ray.demo import bitstrings, ones
from svdd_ray.samplers import in_window
from svdd_ray.values import MCValue

pytestmark = pytest.mark.timeout(240)


def test_windows_place_steps_in_the_reverse_process():
    # 6 steps: step t is the share (6 - t) / 6 of the way through
    assert [t for t in range(6, 0, -1) if in_window(t, 6, (0.0, 0.5))] == [6, 5, 4]
    assert [t for t in range(6, 0, -1) if in_window(t, 6, (0.5, 1.0))] == [3, 2, 1]


def counted(label, steps):
    return {**component("engine_helpers:CountingOnes", options={"label": label}, steps=steps), "name": label}


def test_each_component_scores_only_its_steps_and_finals_get_the_late_one(tmp_path):
    CountingOnes.scored.clear()
    early = {**component("engine_helpers:constant", steps=[0.0, 0.5]), "name": "early"}
    config = small_config(tmp_path / "out", rewards=[early, counted("late", [0.5, 1.0])], trace=True)
    engine.run(config)
    trace = pd.read_parquet(tmp_path / "out" / "_trace")
    # 6 steps: the values of x_5, x_4, x_3 come from the constant 5, those of x_2, x_1, x_0 from ones (<= 1)
    by_t = trace.groupby("t").mean_value.agg(["min", "max"])
    assert (by_t.loc[[3, 4, 5]] == 5.0).all().all()
    assert (by_t.loc[[0, 1, 2], "max"] <= 1.0).all() and CountingOnes.scored["late"] > 0
    frame = read_samples(tmp_path / "out")
    assert frame.reward.tolist() == ones(frame.object.tolist()) == frame.reward_late.tolist()
    assert frame.reward_early.isna().all()


def test_reward_calls_are_counted_per_component(tmp_path):
    # 6 steps: step 1 starts 5/6 of the way, so "late" scores only x_0: the last step's candidates (4 per chain)
    CountingOnes.scored.clear()
    plan = [counted("early", [0.0, 0.9]), counted("late", [0.9, 1.0])]
    _, totals = engine.run(small_config(tmp_path / "out", rewards=plan))
    frame = read_samples(tmp_path / "out")
    per_batch = frame.groupby("batch").first()
    by_component = totals["reward_calls_by_component"]
    assert totals["probe_reward_calls"] == 2  # one pretrained sample through each component before the run
    assert by_component == {"early": CountingOnes.scored["early"] - 1, "late": CountingOnes.scored["late"] - 1}
    assert sum(by_component.values()) == totals["reward_calls"] == per_batch.reward_calls.sum()
    assert per_batch.calls_early.sum() == by_component["early"] and per_batch.calls_late.sum() == by_component["late"]
    distinct_outputs = sum(part.object.nunique() for _, part in frame.groupby("batch"))
    assert distinct_outputs <= by_component["late"] <= 4 * 24 < by_component["early"]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["totals"]["reward_calls_by_component"] == by_component


def test_smc_values_its_initial_states_with_the_early_component(tmp_path):
    early = {**component("engine_helpers:constant", steps=[0.0, 0.5]), "name": "early"}
    config = small_config(tmp_path / "out", method="smc", rewards=[early, counted("late", [0.5, 1.0])], trace=True)
    engine.run(config)
    trace = pd.read_parquet(tmp_path / "out" / "_trace")
    assert (trace[trace.t == 6].mean_value == 5.0).all()  # x_6: the states SMC starts from


def test_a_plan_with_a_gap_or_a_bad_window_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"no component scores the steps from 0\.5 on"):
        small_config(tmp_path / "x", rewards=[counted("a", [0.0, 0.5]), counted("b", [0.6, 1.0])])
    with pytest.raises(ConfigError, match=r"no component scores the steps from 0 on"):
        small_config(tmp_path / "x", rewards=[counted("a", [0.2, 1.0])])
    with pytest.raises(ConfigError, match=r"components\[0\]\.steps: must satisfy 0 <= start < stop <= 1"):
        small_config(tmp_path / "x", rewards=[counted("a", [0.5, 0.5])])
    with pytest.raises(ConfigError, match=r"value\.network_steps: must be \[start, stop\]"):
        small_config(tmp_path / "x", value={"network_steps": [0.5]})


class CountOnesNet(torch.nn.Module):
    def forward(self, x, t):
        return (x == 1).float().sum(-1) * 100.0  # far from any reward, so its values are recognisable


def test_a_windowed_value_network_hands_the_other_steps_to_the_reward():
    from svdd_ray.values import ValueNetwork

    model = bitstrings(length=8, num_steps=6)
    value = MCValue(model, ones, ValueNetwork(CountOnesNet(), 6), window=(0.0, 0.5))
    x = model.predict_x0(model.sample_prior(5, torch.Generator().manual_seed(0)), 6)
    assert value.local_values(x, 5) is not None and value.local_values(x, 3) is not None  # steps 6 and 4
    assert value.local_values(x, 2) is None and value.local_values(x, 0) is None  # step 3 and the final samples
    assert torch.equal(value(x, 4), (x == 1).double().sum(-1) * 100.0)
    assert value(x, 2).tolist() == ones(model.decode(model.predict_x0(x, 2)))  # the PM value
    assert math.isfinite(float(value(x, 0)[0]))

"""SVDD-MC: a value network regressed on pretrained rollouts recovers E[r(x0) | x_t]."""

import pytest
import torch
from torch import nn
from toys import BinaryToy

import svdd_ray
from svdd_ray.values import (
    MCValue,
    ValueNetwork,
    collect_rollouts,
    load_value_network,
    save_value_network,
    train_value_network,
)


class OneHotMLP(nn.Module):
    def __init__(self, length: int, tokens: int = 3, hidden: int = 64) -> None:
        super().__init__()
        self.tokens = tokens
        self.body = nn.Sequential(nn.Linear(length * tokens + 1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x, t_frac):
        onehot = nn.functional.one_hot(x, self.tokens).float().flatten(1)
        return self.body(torch.cat([onehot, t_frac[:, None]], 1)).squeeze(-1)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    toy = BinaryToy(length=4, num_steps=4, seed=0)
    data = collect_rollouts(toy.model, toy.reward_fn, num_rollouts=4000, seed=0)
    value_net = ValueNetwork(OneHotMLP(4), toy.model.num_steps)
    losses = train_value_network(value_net, data, epochs=40, lr=3e-3, seed=0).train_loss
    return toy, data, value_net, losses


def exact_expected_reward(toy):
    """E[r(x0) | x_t = s] for every state, by backward recursion over the exact chain."""
    table = torch.where(toy.revealed(), torch.zeros(len(toy.states), dtype=torch.float64), torch.nan)
    table[toy.state_index(toy.strings)] = toy.reward
    tables = [torch.nan_to_num(table)]
    for t in range(1, toy.model.num_steps + 1):
        tables.append(toy.transitions[t] @ tables[-1])
    return tables


def test_rollouts_label_every_step_of_every_rollout(trained):
    toy, data, _, _ = trained
    assert len(data.reward) == 4000 * toy.model.num_steps
    assert set(data.t.tolist()) == {1, 2, 3, 4}
    finals = data.reward[data.t == 1]
    assert abs(float(finals.mean()) - float((toy.p_pre * toy.reward).sum())) < 0.03


def test_rollouts_can_keep_a_few_random_states_of_each_rollout():
    toy = BinaryToy(length=4, num_steps=4, seed=0)
    full = collect_rollouts(toy.model, toy.reward_fn, num_rollouts=300, seed=3, batch_size=100)
    some = collect_rollouts(toy.model, toy.reward_fn, num_rollouts=300, seed=3, batch_size=100, states_per_rollout=2)
    assert len(some.reward) == 300 * 2 and some.x.shape[1:] == full.x.shape[1:]
    # the same rollouts (same seed): every kept state, with its label, is one of the full set's
    full_rows = {(tuple(x.tolist()), int(t), float(r)) for x, t, r in zip(full.x, full.t, full.reward)}
    assert all((tuple(x.tolist()), int(t), float(r)) in full_rows for x, t, r in zip(some.x, some.t, some.reward))
    # each step is drawn about equally often (2 of 4 steps per rollout: ~150 each)
    counts = torch.bincount(some.t, minlength=5)[1:]
    assert counts.sum() == 600 and counts.min() > 100
    with pytest.raises(ValueError, match="states_per_rollout must be >= 1"):
        collect_rollouts(toy.model, toy.reward_fn, num_rollouts=4, states_per_rollout=0)


def test_regression_recovers_the_conditional_expected_reward(trained):
    toy, data, value_net, losses = trained
    assert losses[-1] < losses[0]
    exact = exact_expected_reward(toy)
    with torch.no_grad():
        for t in range(1, toy.model.num_steps + 1):
            states = data.x[data.t == t]
            predicted = value_net(states, t).double()
            truth = exact[t][toy.state_index(states)]
            assert float((predicted - truth).abs().mean()) < 0.05, t


def test_svdd_mc_beats_pretrained(trained):
    toy, _, value_net, _ = trained
    value = MCValue(toy.model, toy.reward_fn, value_net)
    pre = svdd_ray.sample(toy.model, value, method="pretrained", num_samples=2000, seed=1)
    mc = svdd_ray.sample(toy.model, value, method="svdd", num_samples=2000, num_candidates=8, seed=1)
    assert mc.rewards.mean() > pre.rewards.mean() + 0.2
    assert torch.allclose(mc.rewards, toy.reward[toy.string_index(mc.x0)])


def test_save_and_load_round_trip(trained, tmp_path):
    toy, data, value_net, _ = trained
    path = tmp_path / "value.pt"
    save_value_network(value_net, path)
    fresh = load_value_network(ValueNetwork(OneHotMLP(4), toy.model.num_steps), path)
    with torch.no_grad():
        assert torch.equal(fresh(data.x[:50], 2), value_net(data.x[:50], 2))
    with pytest.raises(ValueError, match="num_steps"):
        load_value_network(ValueNetwork(OneHotMLP(4), 99), path)

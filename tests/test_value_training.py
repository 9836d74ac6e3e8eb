"""Training a value network: one optimiser for all epochs, a seeded validation split, early stopping, best state."""

import math

import pytest
import torch
from torch import nn
from toys import BinaryToy

from svdd_ray.values import Rollouts, ValueNetwork, collect_rollouts, regression_loss, split_rollouts
from svdd_ray.values import train_value_network as train


class Affine(nn.Module):
    """``a * mean(x) + b * t_frac + c``, from zeros: predictions move smoothly towards the targets."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x, t_frac):
        return self.lin(torch.stack([x.float().mean(1), t_frac], 1)).squeeze(-1)


def constant(n: int, reward: float, rollouts: int = 8) -> Rollouts:
    """``n`` states of ``rollouts`` rollouts, all with ``reward``; ``x`` holds each state's index."""
    x = torch.arange(n)[:, None].expand(-1, 3) % 5
    return Rollouts(x, torch.arange(n) % 4 + 1, torch.full((n,), reward), torch.arange(n) % rollouts)


def net() -> ValueNetwork:
    return ValueNetwork(Affine(), num_steps=4)


@pytest.fixture(scope="module")
def toy_rollouts():
    toy = BinaryToy(length=4, num_steps=4, seed=0)
    return collect_rollouts(toy.model, toy.reward_fn, num_rollouts=60, seed=0, batch_size=25)


def test_one_optimiser_steps_through_every_epoch(monkeypatch):
    made = []

    class Recorded(torch.optim.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(torch.optim, "Adam", Recorded)
    metrics = train(net(), constant(40, 1.0), epochs=3, batch_size=16, lr=0.01)
    assert len(made) == 1 and metrics.epochs_run == 3 and metrics.best_epoch == 3
    assert {int(state["step"]) for state in made[0].state.values()} == {3 * 3}  # 3 epochs of ceil(40 / 16) steps


def test_early_stopping_stops_after_patience_epochs_and_restores_the_best_state():
    value_net, snapshots = net(), {}

    def snapshot(epoch, train_loss, val_loss):
        snapshots[epoch] = {k: v.clone() for k, v in value_net.state_dict().items()}

    data, validation = constant(64, 1.0), constant(16, -1.0)  # predictions rise towards 1: validation error rises
    metrics = train(
        value_net, data, epochs=10, batch_size=16, lr=0.01, validation=validation, patience=2, on_epoch=snapshot
    )
    assert metrics.epochs_run == 3 and metrics.best_epoch == 1 and sorted(snapshots) == [1, 2, 3]  # 2, 3 no better
    assert metrics.val_loss == sorted(set(metrics.val_loss)) and metrics.train_loss[-1] < metrics.train_loss[0]
    assert all(torch.equal(value_net.state_dict()[k], snapshots[1][k]) for k in snapshots[1])
    assert not torch.equal(snapshots[3]["net.lin.bias"], snapshots[1]["net.lin.bias"])
    assert regression_loss(value_net, validation) == metrics.best_val_loss == metrics.val_loss[0]
    assert value_net.training  # left in the mode it came in


def test_patience_zero_stops_at_the_first_epoch_without_improvement_and_none_never_stops():
    data, validation = constant(64, 1.0), constant(16, -1.0)
    assert train(net(), data, epochs=6, batch_size=16, lr=0.01, validation=validation, patience=0).epochs_run == 2
    metrics = train(net(), data, epochs=6, batch_size=16, lr=0.01, validation=validation)
    assert metrics.epochs_run == 6 and metrics.best_epoch == 1 and metrics.best_val_loss == metrics.val_loss[0]


def test_an_improving_run_keeps_its_last_epoch():
    data = constant(64, 1.0)
    metrics = train(net(), data, epochs=4, batch_size=16, lr=0.01, validation=constant(16, 1.0), patience=1)
    assert metrics.epochs_run == 4 and metrics.best_epoch == 4
    assert metrics.val_loss == sorted(metrics.val_loss, reverse=True)


def test_rollouts_record_which_rollout_each_state_comes_from(toy_rollouts):
    data = toy_rollouts
    assert len(data.rollout) == len(data.reward) and torch.bincount(data.rollout).tolist() == [4] * 60
    for r in range(60):
        rewards = data.reward[data.rollout == r]
        assert (rewards == rewards[0]).all() and sorted(data.t[data.rollout == r].tolist()) == [1, 2, 3, 4]


def test_the_validation_split_holds_out_whole_rollouts_disjointly_under_a_seed(toy_rollouts):
    train_part, val_part = split_rollouts(toy_rollouts, 0.25, seed=0)
    train_ids, val_ids = set(train_part.rollout.tolist()), set(val_part.rollout.tolist())
    assert len(val_ids) == 15 and train_ids.isdisjoint(val_ids) and train_ids | val_ids == set(range(60))
    assert len(train_part.reward) + len(val_part.reward) == len(toy_rollouts.reward)
    again = split_rollouts(toy_rollouts, 0.25, seed=0)[1]
    assert torch.equal(again.rollout, val_part.rollout) and torch.equal(again.x, val_part.x)
    assert set(split_rollouts(toy_rollouts, 0.25, seed=1)[1].rollout.tolist()) != val_ids


def test_without_rollout_indices_each_state_is_its_own_group():
    data = constant(20, 1.0)
    data.rollout, data.x = None, torch.arange(20)[:, None]
    train_part, val_part = split_rollouts(data, 0.2, seed=3)
    assert len(val_part.x) == 4 and sorted(torch.cat([train_part.x, val_part.x]).flatten().tolist()) == list(range(20))


def test_training_with_a_validation_share_is_reproducible(toy_rollouts):
    def run():
        torch.manual_seed(0)
        value_net = net()
        metrics = train(value_net, toy_rollouts, epochs=3, batch_size=32, lr=0.01, val_share=0.2, patience=1, seed=5)
        return metrics, value_net.state_dict()

    (first, weights), (second, again) = run(), run()
    assert first == second and len(first.val_loss) == first.epochs_run
    assert all(torch.equal(weights[k], again[k]) for k in weights)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"patience": -1, "val_share": 0.2}, r"patience: must be >= 0, got -1"),
        ({"val_share": 1.0}, r"val_share: must be in \[0, 1\), got 1\.0"),
        ({"val_share": -0.1}, r"val_share: must be in \[0, 1\), got -0\.1"),
        ({"val_share": math.nan}, r"val_share: must be in \[0, 1\), got nan"),
        ({"epochs": 0}, r"epochs: must be >= 1, got 0"),
        ({"patience": 2}, r"patience: needs validation states"),
        ({"val_share": 0.2, "validation": constant(4, 0.0)}, r"val_share: give val_share or validation, not both"),
    ],
)
def test_bad_training_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError, match=f"^{message}") as err:
        train(net(), constant(40, 1.0), **{"epochs": 1, **options})
    assert "\n" not in str(err.value)


def test_a_split_that_leaves_nothing_to_train_on_is_refused():
    with pytest.raises(ValueError, match=r"^val_share: 0\.5 of 1 rollouts leaves none to train on$"):
        split_rollouts(constant(8, 1.0, rollouts=1), 0.5)


def test_the_job_refuses_bad_patience_before_collecting_rollouts(load_job, capsys):
    job = load_job("train_value")
    job.collect_rollouts = None  # never reached
    assert job.main(["--config", "no-such.yaml", "--out", "x.pt", "--patience", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: patience: must be >= 0, got -1"

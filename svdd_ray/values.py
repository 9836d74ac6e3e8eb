"""Soft values: SVDD-PM (reward of the denoised prediction) and SVDD-MC (a regressed network)."""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from svdd_ray.errors import ConfigError
from svdd_ray.inprocess import as_values, make_generator
from svdd_ray.models.stacking import network_pass
from svdd_ray.protocol import FILLS, PROBABILITY_FILLS, DiffusionModel, Reward, Value
from svdd_ray.rewards import reads_probabilities
from svdd_ray.samplers import in_window, rollout


class SplitValue:
    """A value computed either locally (``local_values``) or as a reward of decoded ``objects``.

    The split lets a distributed engine compute the local part next to the model and send
    only the objects to remote reward actors; called directly, it does both in-process.
    """

    reward: Reward | None

    def objects(self, x: Tensor, t: int) -> list:
        raise NotImplementedError

    def local_values(self, x: Tensor, t: int) -> Tensor | None:
        """Values computed without the reward, or None when the reward must score ``objects``."""
        return None

    def __call__(self, x: Tensor, t: int) -> Tensor:
        local = self.local_values(x, t)
        if local is not None:
            return local
        if self.reward is None:
            raise ValueError("this value has no reward attached; the engine scores its objects remotely")
        return as_values(self.reward(self.objects(x, t)), len(x), source="reward")


_FILL_METHODS = {"sample": "sample_x0", "soft": "x0_probabilities", "uniform": "x0_probabilities"}


def check_fill(
    fill: str, model: DiffusionModel | None = None, rewards: dict[str, Reward] | None = None, key: str = "value.fill"
) -> None:
    """Raise ConfigError (a ValueError naming ``key``) unless ``model`` can make ``fill`` and every reward in
    ``rewards`` can read it."""
    if fill not in FILLS:
        raise ConfigError(f"{key}: must be one of {', '.join(FILLS)}, got {fill!r}")
    method = _FILL_METHODS.get(fill)
    if model is not None and method is not None and not hasattr(model, method):
        raise ConfigError(f"{key}: {fill!r} needs a masked model ({method}); {type(model).__name__} has none")
    if fill in PROBABILITY_FILLS:
        for name, reward in (rewards or {}).items():
            if not reads_probabilities(reward):
                raise ConfigError(
                    f"{key}: {fill!r} sends per-position probabilities, and reward {name!r} reads only decoded "
                    "objects (a reward declares reads_probabilities = True to accept them)"
                )


def _content_generator(x: Tensor, t: int) -> torch.Generator:
    """A generator seeded by the states' content, so a sampled fill is the same on every backend and replay."""
    digest = hashlib.sha1(x.detach().cpu().numpy().tobytes() + str(t).encode()).digest()
    return torch.Generator(device=x.device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


@dataclass
class PMValue(SplitValue):
    """``v(x, t) = reward(fill(x, t))``: the posterior-mean value of SVDD-PM.

    ``fill`` says what the reward reads for a state at ``t >= 1`` (at ``t = 0`` always the decoded design):
    ``argmax`` the decoded denoised prediction ``predict_x0`` (any model); on masked models ``sample``
    one completion drawn from the model's ``x0`` distribution, ``soft`` that distribution itself and
    ``uniform`` a uniform distribution at masked positions (both as float ``[length, alphabet]`` arrays
    with one-hot rows where revealed, for rewards that declare ``reads_probabilities``).
    """

    model: DiffusionModel
    reward: Reward | None
    fill: str = field(default="argmax", kw_only=True)  # keyword-only: MCValue's positional fields stay as they were

    def objects(self, x: Tensor, t: int) -> list:
        """What the reward scores: the filled-in denoised predictions of states ``x`` at step ``t``."""
        if t == 0 or self.fill == "argmax":
            return self.model.decode(self.model.predict_x0(x, t))
        if self.fill == "sample":
            return self.model.decode(self.model.sample_x0(x, t, _content_generator(x, t)))
        probs = self.model.x0_probabilities(x, t, self.fill).cpu().numpy()
        return list(probs)


def pm_value(model: DiffusionModel, reward: Reward, fill: str = "argmax") -> PMValue:
    """The SVDD-PM value of ``reward`` under ``model``, with masked positions filled by ``fill`` (:data:`FILLS`)."""
    check_fill(fill, model, {"reward": reward}, key="fill")
    return PMValue(model, reward, fill=fill)


@dataclass
class Rollouts:
    """States ``x`` at steps ``t`` of pretrained rollouts, each with its rollout's final ``reward``
    (and the index of its ``rollout``, when known)."""

    x: Tensor
    t: Tensor
    reward: Tensor
    rollout: Tensor | None = None

    def subset(self, keep: Tensor) -> Rollouts:
        """The states where the boolean mask ``keep`` is true."""
        rollout = None if self.rollout is None else self.rollout[keep]
        return Rollouts(self.x[keep], self.t[keep], self.reward[keep], rollout)


def collect_rollouts(
    model: DiffusionModel,
    reward: Reward,
    *,
    num_rollouts: int,
    seed: int = 0,
    batch_size: int = 256,
    states_per_rollout: int | None = None,
) -> Rollouts:
    """Run the pretrained model and label intermediate states with their rollout's reward.

    Every state x_t (t >= 1) is kept, or ``states_per_rollout`` of them drawn at random per
    rollout: fewer, less correlated states for the same number of final rewards.
    Rollouts whose reward is invalid (NaN) are dropped.
    """
    if states_per_rollout is not None and states_per_rollout < 1:
        raise ValueError(f"states_per_rollout must be >= 1 or None, got {states_per_rollout}")
    generator = make_generator(seed, getattr(model, "device", "cpu"))
    picker = torch.Generator().manual_seed(seed)
    xs, ts, rs, ids = [], [], [], []
    with torch.no_grad():
        for start in range(0, num_rollouts, batch_size):
            n = min(batch_size, num_rollouts - start)
            states = list(rollout(model, n, generator))
            final = as_values(reward(model.decode(states[-1][1])), n, source="reward")
            ok = torch.isfinite(final).cpu()
            x = torch.stack([x.cpu() for _, x in states[:-1]])[:, ok]  # [T, kept, ...]
            t = torch.tensor([t for t, _ in states[:-1]]).unsqueeze(1).expand(-1, int(ok.sum()))
            steps = torch.rand(t.shape, generator=picker).argsort(dim=0)
            if states_per_rollout is not None:
                steps = steps[: int(states_per_rollout)]
            cols = torch.arange(t.shape[1]).expand_as(steps)
            xs.append(x[steps, cols].flatten(0, 1))
            ts.append(t[steps, cols].flatten())
            rs.append(final.cpu()[ok].expand_as(steps).flatten())
            ids.append((start + torch.nonzero(ok).flatten()).expand_as(steps).flatten())
    return Rollouts(torch.cat(xs), torch.cat(ts), torch.cat(rs).float(), torch.cat(ids))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties, non-finite pairs dropped); NaN if either is constant."""
    import pandas as pd

    keep = np.isfinite(a) & np.isfinite(b)
    ra, rb = (pd.Series(v[keep]).rank().to_numpy() for v in (a, b))
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def value_quality(
    model: DiffusionModel, value: Value, *, num_rollouts: int, seed: int = 0, batch_size: int = 256
) -> list[dict]:
    """How well ``value`` ranks states by the reward their own pretrained rollout ends with, step by step.

    Runs ``num_rollouts`` pretrained rollouts; for each step ``t`` (the states ``x_t``, ``t`` from
    ``num_steps`` to 1) returns the Spearman correlation between ``value(x_t, t)`` and the final
    reward ``value(x_0, 0)``, the values' spread, and the share of the reverse process done. Where the
    correlation is near 0, selecting by this value is selecting at random (plus the value's bias), so
    a selection window should start where it rises. Rollouts with an invalid final reward are left out.
    """
    generator = make_generator(seed, getattr(model, "device", "cpu"))
    steps: dict[int, list[Tensor]] = {}
    finals = []
    with torch.no_grad():
        for start in range(0, num_rollouts, batch_size):
            n = min(batch_size, num_rollouts - start)
            for t, x in rollout(model, n, generator):
                scored = as_values(value(x, t), n, source="value")
                if t == 0:
                    finals.append(scored)
                else:
                    steps.setdefault(t, []).append(scored)
    final = torch.cat(finals)
    ok = torch.isfinite(final)
    rows = []
    for t in sorted(steps, reverse=True):
        values = torch.cat(steps[t])[ok]
        rows.append(
            {
                "t": t,
                "done": (model.num_steps - t) / model.num_steps,
                "spearman": spearman(values.numpy(), final[ok].numpy()),
                "value_sd": float(values[torch.isfinite(values)].std()),
                "rollouts": int(ok.sum()),
            }
        )
    return rows


class StandardisedOutput:
    """Mixin for value networks that predict a standardised reward: ``mean + std * z``.

    Rewards live on their own scales, so a network regresses ``z`` and the two statistics are
    buffers (saved in the checkpoint). Call ``_init_target_stats()`` in ``__init__`` and set
    the statistics from the training rewards with :meth:`set_target_stats` before training.
    """

    def _init_target_stats(self) -> None:
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    @torch.no_grad()
    def set_target_stats(self, mean: float, std: float) -> None:
        """Output scale: predictions are ``mean + std * (standardised network output)``."""
        self.target_mean.fill_(float(mean))
        self.target_std.fill_(max(float(std), 1e-6))

    def unstandardise(self, z: Tensor) -> Tensor:
        return self.target_mean + self.target_std * z


class ValueNetwork(nn.Module):
    """Wraps ``net(x, t_frac) -> [n]`` (``t_frac = t / num_steps``) as a value for steps t >= 1."""

    def __init__(self, net: nn.Module, num_steps: int) -> None:
        super().__init__()
        self.net = net
        self.num_steps = num_steps

    def forward(self, x: Tensor, t: int | Tensor) -> Tensor:
        if not isinstance(t, Tensor):
            t = torch.full((x.shape[0],), int(t), device=x.device)
        return self.net(x, t.float() / self.num_steps).reshape(-1)

    def _time(self, x: Tensor, t: int) -> Tensor:
        return torch.full((x.shape[0],), int(t), device=x.device).float() / self.num_steps

    def forward_stacked(self, xs: list[Tensor], ts: list[int]) -> list[Tensor]:
        """``[self(x, t) for ...]`` (steps t >= 1) with one network call over all the rows."""
        return [part.reshape(-1) for part in network_pass(self.net, xs, ts, self._time)]


@dataclass
class TrainingMetrics:
    """What :func:`train_value_network` did: the mean loss of each epoch run, on the training states and (with
    validation) on the validation states, and ``best_epoch`` (from 1), whose weights the network now holds."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    @property
    def best_val_loss(self) -> float | None:
        """The validation loss of the kept weights (None without validation)."""
        return self.val_loss[self.best_epoch - 1] if self.val_loss else None


def check_training(epochs: int = 1, val_share: float = 0.0, patience: int | None = None) -> None:
    """Raise ConfigError (a one-line ValueError) unless the training options are usable."""
    if epochs < 1:
        raise ConfigError(f"epochs: must be >= 1, got {epochs}")
    if not 0 <= val_share < 1:
        raise ConfigError(f"val_share: must be in [0, 1), got {val_share}")
    if patience is not None and patience < 0:
        raise ConfigError(f"patience: must be >= 0, got {patience}")


def split_rollouts(data: Rollouts, share: float, seed: int = 0) -> tuple[Rollouts, Rollouts]:
    """``data`` as (training, validation) states: ``share`` of its rollouts, drawn under ``seed``, for validation.

    A rollout's states stay together (its early states identify it); where ``data`` does not record
    rollouts, each state counts as one.
    """
    check_training(val_share=share)
    groups = data.rollout if data.rollout is not None else torch.arange(len(data.reward))
    ids = torch.unique(groups)
    held = max(1, round(share * len(ids)))
    if held >= len(ids):
        raise ConfigError(f"val_share: {share} of {len(ids)} rollouts leaves none to train on")
    order = torch.as_tensor(np.random.default_rng([seed, 1]).permutation(len(ids)))
    val = torch.isin(groups, ids[order[:held]])
    return data.subset(~val), data.subset(val)


def _train_epoch(
    value_net: ValueNetwork, data: Rollouts, optimizer: torch.optim.Optimizer, order: Tensor, batch_size: int
) -> float:
    """One pass over ``data`` in ``order``, one optimiser step per batch; returns the mean training loss."""
    device = next(value_net.parameters()).device
    value_net.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        x, t, r = data.x[idx].to(device), data.t[idx].to(device), data.reward[idx].to(device)
        loss = torch.mean((value_net(x, t) - r) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
    return total / len(order)


@torch.no_grad()
def regression_loss(value_net: ValueNetwork, data: Rollouts, batch_size: int = 4096) -> float:
    """The mean squared error of ``value_net`` on ``data``, in eval mode (the network's mode is restored)."""
    device = next(value_net.parameters()).device
    was_training = value_net.training
    value_net.eval()
    pred = [
        value_net(data.x[i : i + batch_size].to(device), data.t[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(data.reward), batch_size)
    ]
    value_net.train(was_training)
    return float(((torch.cat(pred).float() - data.reward) ** 2).mean())


def train_value_network(
    value_net: ValueNetwork,
    data: Rollouts,
    *,
    epochs: int = 20,
    batch_size: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
    val_share: float = 0.0,
    validation: Rollouts | None = None,
    patience: int | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
) -> TrainingMetrics:
    """Monte Carlo regression: fit ``v(x_t, t)`` to the rollouts' rewards by least squares, one Adam for all epochs.

    With validation states (``validation``, or ``val_share`` of ``data``'s rollouts held out, see
    :func:`split_rollouts`) the network ends with the weights of its best validation epoch, and with
    ``patience`` training stops after that many epochs without improvement. ``on_epoch(epoch,
    train_loss, val_loss)`` is called after each epoch. Shuffles and the split come from ``seed``.
    """
    check_training(epochs, val_share, patience)
    if val_share and validation is not None:
        raise ConfigError("val_share: give val_share or validation, not both")
    if val_share:
        data, validation = split_rollouts(data, val_share, seed)
    if patience is not None and validation is None:
        raise ConfigError("patience: needs validation states (val_share > 0 or validation)")
    was_training = value_net.training
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(value_net.parameters(), lr=lr)
    metrics, best, best_state = TrainingMetrics(), math.inf, None
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(data.reward), generator=generator)
        metrics.train_loss.append(_train_epoch(value_net, data, optimizer, order, batch_size))
        loss = None if validation is None else regression_loss(value_net, validation)
        if on_epoch is not None:
            on_epoch(epoch, metrics.train_loss[-1], loss)
        if loss is None:
            continue
        metrics.val_loss.append(loss)
        if loss < best:
            best, best_state, metrics.best_epoch = loss, copy.deepcopy(value_net.state_dict()), epoch
        elif patience is not None and epoch - metrics.best_epoch >= patience:
            break
    if best_state is None:  # no validation (or no finite validation loss): the last epoch's weights
        metrics.best_epoch = metrics.epochs_run
    else:
        value_net.load_state_dict(best_state)
    value_net.train(was_training)
    return metrics


@dataclass
class MCValue(PMValue):
    """SVDD-MC: a regressed value network for t >= 1 and the true reward at t = 0.

    ``window`` (``[start, stop]``, shares of the reverse steps) limits the network to part of the
    run; the other steps fall back to the PM value (the reward of the denoised prediction).
    """

    value_net: ValueNetwork | None = None
    window: tuple[float, float] = (0.0, 1.0)

    def local_values(self, x: Tensor, t: int) -> Tensor | None:
        if t == 0 or not in_window(t + 1, self.model.num_steps, self.window):
            return None
        with torch.no_grad():
            return as_values(self.value_net(x, t), len(x), source="value network")


def save_value_network(value_net: ValueNetwork, path: str | Path) -> None:
    """Save the network's weights (load them with :func:`load_value_network`)."""
    torch.save({"state_dict": value_net.state_dict(), "num_steps": value_net.num_steps}, path)


def load_value_network(value_net: ValueNetwork, path: str | Path) -> ValueNetwork:
    """Load weights saved by :func:`save_value_network` into ``value_net`` (``weights_only``)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("num_steps") != value_net.num_steps:
        raise ValueError(f"{path}: saved for num_steps={payload.get('num_steps')}, not {value_net.num_steps}")
    value_net.load_state_dict(payload["state_dict"])
    return value_net

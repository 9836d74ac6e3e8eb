"""The sampling algorithms, written as coroutines that ask for values.

Each sampler is a generator function. It yields ``ValueRequest(x, t)`` whenever it needs the
values of states ``x`` at step ``t``, receives a float tensor ``[len(x)]`` back (non-finite =
invalid), and returns ``(x0, rewards)`` for its final samples. Who computes the values — a
local function, or reward actors on a cluster — is the driver's business, not the sampler's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from svdd_ray.protocol import DiffusionModel
from svdd_ray.selection import (
    effective_sample_size,
    normalized_weights,
    rankable,
    resample,
    select_candidates,
    top_k,
)


class ValueRequest(NamedTuple):
    """Score the states ``x`` at step ``t``."""

    x: Tensor
    t: int


Sampler = Generator[ValueRequest, Tensor, tuple[Tensor, Tensor]]


def rollout(model: DiffusionModel, n: int, generator: torch.Generator) -> Iterator[tuple[int, Tensor]]:
    """Ancestral sampling from the pretrained model: yields ``(t, x_t)`` for t = T .. 0."""
    x = model.sample_prior(n, generator)
    yield model.num_steps, x
    for t in range(model.num_steps, 0, -1):
        x = model.propose(x, t, generator)
        yield t - 1, x


def check_window(window: Sequence[float]) -> None:
    """Raise ValueError unless ``window`` is ``[start, stop]`` with ``0 <= start < stop <= 1``."""
    pair = list(window) if isinstance(window, (list, tuple)) else None
    if not pair or len(pair) != 2 or not all(isinstance(w, (int, float)) for w in pair):
        raise ValueError(f"must be [start, stop] (fractions of the reverse steps), got {window!r}")
    if not 0.0 <= pair[0] < pair[1] <= 1.0:
        raise ValueError(f"must satisfy 0 <= start < stop <= 1, got {window!r}")


def in_window(t: int, num_steps: int, window: Sequence[float]) -> bool:
    """Whether step ``t`` (x_t -> x_{t-1}) lies in ``window``: the share of the reverse process done before it,
    ``(num_steps - t) / num_steps``, is in ``[start, stop)``. The values of ``x_{t-1}`` belong to step ``t``."""
    start, stop = window
    return start <= (num_steps - t) / num_steps < stop


def check_selection_plan(select_every: int, select_steps: Sequence[float]) -> None:
    """Raise ValueError (naming the option) unless the plan is valid; see :func:`selection_plan`."""
    if isinstance(select_every, bool) or not isinstance(select_every, int) or select_every < 1:
        raise ValueError(f"select_every must be an integer >= 1, got {select_every!r}")
    try:
        check_window(select_steps)
    except ValueError as err:
        raise ValueError(f"select_steps {err}") from None


def selection_plan(
    num_steps: int, select_every: int = 1, select_steps: Sequence[float] = (0.0, 1.0)
) -> tuple[set[int], set[int]]:
    """The steps ``t`` (x_t -> x_{t-1}) where a method guides, and those where it selects among scored candidates.

    A step is guided when the fraction of the reverse process done before it,
    ``(num_steps - t) / num_steps``, lies in ``[start, stop)`` of ``select_steps`` (``[0.4, 1]``:
    only the last 60% of the steps, where x0_hat is informative). Among guided steps every
    ``select_every``-th selects, counted back from the window's last step, so each window ends
    on a selection. Outside the window states move by the pretrained model alone. The defaults
    guide and select at every step.
    """
    check_selection_plan(select_every, select_steps)
    guided = {t for t in range(1, num_steps + 1) if in_window(t, num_steps, select_steps)}
    last = min(guided, default=1)
    return guided, {t for t in guided if (t - last) % select_every == 0}


def _branch_and_select(
    model: DiffusionModel,
    num_samples: int,
    num_candidates: int,
    generator: torch.Generator,
    plan: tuple[set[int], set[int]],
    choose: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
) -> Sampler:
    """Chains that branch into ``num_candidates`` candidates at guided steps and are cut back by ``choose``.

    Candidates branch from the last selected state and each moves by the pretrained model until
    the next selecting step; there ``choose(candidates, values)`` keeps one state per chain and
    its value. With ``select_every = k`` a candidate is a k-step rollout, so the reward is asked
    for once per k steps. Outside the window the chains move alone.
    """
    guided, selecting = plan
    x = model.sample_prior(num_samples, generator)
    candidates, rewards = None, None
    for t in range(model.num_steps, 0, -1):
        if t not in guided:
            x = model.propose(x, t, generator)
            continue
        if candidates is None:
            candidates = x.repeat_interleave(num_candidates, dim=0)
        candidates = model.propose(candidates, t, generator)
        if t in selecting:
            values = yield ValueRequest(candidates, t - 1)
            x, rewards = choose(candidates, values)
            candidates = None
    if 1 not in selecting:
        rewards = yield ValueRequest(x, 0)
    return x, rewards


def final_states(model: DiffusionModel, n: int, generator: torch.Generator) -> Tensor:
    """The clean samples ``x_0`` of ``n`` pretrained rollouts."""
    return deque(rollout(model, n, generator), maxlen=1)[0][1]


def pretrained(model: DiffusionModel, *, num_samples: int, generator: torch.Generator) -> Sampler:
    """Plain ancestral sampling; rewards of the samples are asked for once at the end."""
    x = final_states(model, num_samples, generator)
    rewards = yield ValueRequest(x, 0)
    return x, rewards


def best_of_n(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    generator: torch.Generator,
    pick: str = "per_sample",
) -> Sampler:
    """Draw ``num_candidates`` pretrained samples per output and keep the best by reward.

    ``pick="per_sample"``: best of each group of ``num_candidates``; ``pick="top"``: the
    global top ``num_samples`` of all ``num_samples * num_candidates`` (the paper's variant).
    """
    if pick not in ("per_sample", "top"):
        raise ValueError(f"pick must be 'per_sample' or 'top', got {pick!r}")
    x = final_states(model, num_samples * num_candidates, generator)
    rewards = yield ValueRequest(x, 0)
    if pick == "top":
        idx = top_k(rewards, num_samples)
    else:
        best = select_candidates(rewards.view(num_samples, num_candidates), 0.0, generator)
        idx = torch.arange(num_samples, device=rewards.device) * num_candidates + best
    return x[idx.to(x.device)], rewards[idx]


def svdd(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    select_every: int = 1,
    select_steps: Sequence[float] = (0.0, 1.0),
) -> Sampler:
    """SVDD: ``num_candidates`` proposals per chain, keep one by soft value (argmax at alpha = 0, else a draw
    from softmax(v / alpha)); every step by default, else as :func:`selection_plan` says."""

    def choose(candidates: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        values = values.view(num_samples, num_candidates)
        pick = select_candidates(values, alpha, generator)
        rows = torch.arange(num_samples, device=values.device)
        return candidates[(rows * num_candidates + pick).to(candidates.device)], values[rows, pick]

    plan = selection_plan(model.num_steps, select_every, select_steps)
    return (yield from _branch_and_select(model, num_samples, num_candidates, generator, plan, choose))


def beam(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    generator: torch.Generator,
    select_every: int = 1,
    select_steps: Sequence[float] = (0.0, 1.0),
) -> Sampler:
    """Beam search: keep the best ``num_samples`` of all ``num_samples * num_candidates`` proposals; every step
    by default, else as :func:`selection_plan` says."""

    def choose(candidates: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        idx = top_k(values, num_samples)
        return candidates[idx.to(candidates.device)], values[idx]

    plan = selection_plan(model.num_steps, select_every, select_steps)
    return (yield from _branch_and_select(model, num_samples, num_candidates, generator, plan, choose))


def _check_smc(name: str, alpha: float, ess_threshold: float, resampling: str) -> None:
    """Raise ValueError unless the options shared by :func:`smc` and :func:`particle_gibbs` are valid."""
    if alpha <= 0:
        raise ValueError(f"{name} needs alpha > 0 (weights are exp(value / alpha))")
    if not 0.0 <= ess_threshold <= 1.0:
        raise ValueError(f"ess_threshold must be in [0, 1], got {ess_threshold}")
    if resampling not in ("multinomial", "systematic"):
        raise ValueError(f"resampling must be 'multinomial' or 'systematic', got {resampling!r}")


class _Path(NamedTuple):
    """One particle per population followed through an SMC pass: its states ``x[r]`` ``[groups, ...]`` and values
    ``values[r]`` ``[groups]`` at the pass's scored points (r = 0: the prior)."""

    x: list[Tensor]
    values: list[Tensor]


class _History(NamedTuple):
    """Every particle at each scored point of an SMC pass, and ``ancestors[r]``: the index at point r - 1 of each
    particle at point r (None: each its own)."""

    x: list[Tensor]
    values: list[Tensor]
    ancestors: list[Tensor | None]


def _join(first: Tensor, rest: Tensor, groups: int) -> Tensor:
    """Rows of ``groups`` populations: each one's first row from ``first`` ``[groups, ...]``, the others from
    ``rest``, in order."""
    return torch.cat([first.unsqueeze(1), rest.unflatten(0, (groups, -1))], dim=1).flatten(0, 1)


def _rest(x: Tensor, groups: int) -> Tensor:
    """The rows of ``groups`` populations after each one's first."""
    return x.unflatten(0, (groups, -1))[:, 1:].flatten(0, 1)


def _conditional_ancestors(log_w: Tensor, resampling: str, generator: torch.Generator) -> Tensor:
    """Ancestors ``[g, m - 1]`` (indices into each row) of particles 1.. of ``g`` populations of ``m`` given that
    particle 0 keeps itself: the conditional form of :func:`resample` that conditional SMC needs.

    Multinomial draws are independent, so the others are plain draws. Systematic resampling is first made
    exchangeable (the particles in a random order); then the point that fell on particle 0 is uniform on its
    interval of the cumulative weights, which fixes the common offset of the others (Chopin & Singh 2015).
    """
    g, m = log_w.shape
    if resampling == "multinomial":
        return resample(log_w, m - 1, resampling, generator)
    w = normalized_weights(log_w).to(generator.device, torch.float64)
    order = torch.rand(g, m, generator=generator, device=w.device).argsort(dim=1)
    cum = torch.cumsum(w.gather(1, order), 1)
    high = cum.gather(1, order.argmin(dim=1, keepdim=True))  # the end of particle 0's interval
    point = high - w[:, :1] * torch.rand(g, 1, generator=generator, device=w.device, dtype=w.dtype)
    which = (point * m).floor().clamp(0, m - 1)  # particle 0's point is (offset + which) / m
    offset = point * m - which
    others = torch.arange(m, device=w.device).expand(g, m)
    others = others[others != which].view(g, m - 1)
    idx = torch.searchsorted(cum, (offset + others) / m).clamp_max(m - 1)
    return order.gather(1, idx).to(log_w.device)


def _smc_pass(
    model: DiffusionModel,
    groups: int,
    size: int,
    alpha: float,
    generator: torch.Generator,
    ess_threshold: float,
    resampling: str,
    select_every: int,
    select_steps: Sequence[float],
    reference: _Path | None = None,
    record: bool = False,
) -> Generator[ValueRequest, Tensor, tuple[Tensor, Tensor, Tensor, _History | None]]:
    """One SMC pass over ``groups`` populations of ``size`` particles (see :func:`smc`); returns the final states,
    their values, their log weights and, with ``record``, the pass's :class:`_History`.

    With a ``reference`` (conditional SMC) each population's particle 0 is the reference path: its stored
    states and values are used (never proposed nor scored again) and it is its own ancestor at each
    resampling, while the others draw theirs from all ``size`` (:func:`_conditional_ancestors`).
    """
    selecting = selection_plan(model.num_steps, select_every, select_steps)[1] | {1}  # the end is always scored
    particles = groups * size
    offsets = (torch.arange(groups) * size).unsqueeze(1)  # [groups, 1]: each population's first particle

    def score(x: Tensor, t: int, r: int) -> Generator[ValueRequest, Tensor, tuple[Tensor, Tensor]]:
        if reference is None:
            return x, (yield ValueRequest(x, t))
        x = _join(reference.x[r], _rest(x, groups), groups)
        return x, _join(reference.values[r], (yield ValueRequest(_rest(x, groups), t)), groups)

    if reference is None:
        x = model.sample_prior(particles, generator)
    else:
        x = _join(reference.x[0], model.sample_prior(particles - groups, generator), groups)
    if model.num_steps in selecting:
        x, values = yield from score(x, model.num_steps, 0)
    else:  # the first potential is exp(v / alpha) at the first scored step
        values = torch.zeros(particles, dtype=torch.float64)
    log_w = torch.zeros_like(values)
    history = _History([x], [values], [None]) if record else None
    ancestors, r = None, 0  # the last resampling's indices; the scored point
    for t in range(model.num_steps, 0, -1):
        if reference is None:
            x = model.propose(x, t, generator)
        else:
            x = _join(x.unflatten(0, (groups, size))[:, 0], model.propose(_rest(x, groups), t, generator), groups)
        if t not in selecting:
            continue
        r += 1
        x, new_values = yield from score(x, t - 1, r)
        previous = torch.where(torch.isfinite(values), values, torch.zeros_like(values))
        log_w = torch.where(
            torch.isfinite(new_values), log_w + (new_values - previous) / alpha, torch.full_like(log_w, -torch.inf)
        )
        values = new_values
        if history is not None:
            history.x.append(x)
            history.values.append(values)
            history.ancestors.append(ancestors)
            ancestors = None
        if t == 1:
            break
        grouped = log_w.view(groups, size)
        redo = torch.full((groups,), ess_threshold >= 1.0) | (effective_sample_size(grouped) < ess_threshold * size)
        if bool(redo.any()):
            if reference is None:
                drawn = resample(grouped, size, resampling, generator).cpu() + offsets
            else:
                drawn = _conditional_ancestors(grouped, resampling, generator).cpu()
                drawn = torch.cat([torch.zeros(groups, 1, dtype=drawn.dtype), drawn], dim=1) + offsets
            idx = torch.where(redo.unsqueeze(1).cpu(), drawn, torch.arange(particles).view(groups, size)).flatten()
            x, values = x[idx.to(x.device)], values[idx]
            log_w = torch.where(redo.unsqueeze(1), torch.zeros_like(grouped), grouped).flatten()
            ancestors = idx
    return x, values, log_w, history


def _draw(log_w: Tensor, groups: int, k: int, resampling: str, generator: torch.Generator) -> Tensor:
    """``k`` particle indices per population drawn by the final weights (flat indices, population by population)."""
    size = len(log_w) // groups
    offsets = (torch.arange(groups) * size).unsqueeze(1)
    return (resample(log_w.view(groups, size), k, resampling, generator).cpu() + offsets).flatten()


def _trace(history: _History, last: Tensor) -> _Path:
    """The path through ``history`` of the particles ``last`` (flat indices at the final point)."""
    idx, xs, values = last, [], []
    for r in range(len(history.x) - 1, -1, -1):
        xs.append(history.x[r][idx.to(history.x[r].device)])
        values.append(history.values[r][idx])
        if history.ancestors[r] is not None:
            idx = history.ancestors[r][idx]
    return _Path(xs[::-1], values[::-1])


def smc(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    ess_threshold: float = 1.0,
    resampling: str = "systematic",
    population: str = "batch",
    select_every: int = 1,
    select_steps: Sequence[float] = (0.0, 1.0),
) -> Sampler:
    """Sequential Monte Carlo / FK steering with twisting potentials ``exp(v / alpha)``.

    ``num_samples * num_candidates`` particles move by the pretrained proposal; at each selecting
    step (:func:`selection_plan`) and at the end they are scored, weights
    ``exp((v(x_now) - v(x_last scored)) / alpha)`` accumulate between resamplings, which happen
    at selection steps when ESS < ``ess_threshold`` * particles (1.0: every time).

    ``population="batch"``: all particles form one population and the outputs are ``num_samples``
    draws from it (designs may become copies of each other). ``"design"``: each output has its own
    ``num_candidates`` particles, resampled only among themselves (ESS per design), and is one draw
    from them: designs stay independent, like best-of-N's.
    """
    _check_smc("smc", alpha, ess_threshold, resampling)
    if population not in ("batch", "design"):
        raise ValueError(f"population must be 'batch' or 'design', got {population!r}")
    groups = num_samples if population == "design" else 1
    x, values, log_w, _ = yield from _smc_pass(
        model, groups, num_samples * num_candidates // groups, alpha, generator, ess_threshold, resampling,
        select_every, select_steps,
    )  # fmt: skip
    idx = _draw(log_w, groups, num_samples // groups, resampling, generator)
    return x[idx.to(x.device)], values[idx]


def particle_gibbs(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    iterations: int = 2,
    ess_threshold: float = 1.0,
    resampling: str = "systematic",
    select_every: int = 1,
    select_steps: Sequence[float] = (0.0, 1.0),
) -> Sampler:
    """Particle Gibbs (iterated conditional SMC, Andrieu, Doucet & Holenstein 2010), ``num_candidates`` particles
    per design.

    Iteration 1 is :func:`smc` with ``population="design"``; at its end one path per design is drawn by
    the final weights and becomes the reference. Each further iteration is conditional SMC: particle 0
    of each design is pinned to the reference path (its stored states and values, not scored again),
    the other ``num_candidates - 1`` are proposed, scored and resampled as in smc with the reference in
    the pool (it keeps itself), and a new reference is drawn at the end. These iterations are an exact
    MCMC kernel for the target ``p_pre(x) exp(r(x) / alpha)``, so the output (the last reference and its
    reward) approaches it as ``iterations`` grows, for any ``num_candidates >= 2``. Value calls per
    design and scored step: ``num_candidates`` in iteration 1, ``num_candidates - 1`` after. Memory:
    every particle's state at each scored step is kept for the trace back.
    """
    _check_smc("particle_gibbs", alpha, ess_threshold, resampling)
    check_count("iterations", iterations, 1)
    if iterations > 1 and num_candidates < 2:
        raise ValueError("particle_gibbs with iterations > 1 needs num_candidates >= 2 (particle 0 is the reference)")
    reference = None
    for i in range(iterations):
        last = i == iterations - 1
        x, values, log_w, history = yield from _smc_pass(
            model, num_samples, num_candidates, alpha, generator, ess_threshold, resampling, select_every,
            select_steps, reference, record=not last,
        )  # fmt: skip
        idx = _draw(log_w, num_samples, 1, resampling, generator)
        if not last:
            reference = _trace(history, idx)
    return x[idx.to(x.device)], values[idx]


def check_count(name: str, value: object, low: int) -> None:
    """Raise ValueError naming the option unless ``value`` is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def refine(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    rounds: int = 4,
    renoise_to: float = 0.25,
    init: int = 1,
) -> Sampler:
    """Refinement of elites: re-noise each design, denoise it again, keep the better; rewards of clean samples only.

    Each design starts as the best of ``init`` pretrained samples. Every round re-noises it
    ``num_candidates`` times to step ``t = ceil(renoise_to * num_steps)`` (:meth:`renoise`: the forward
    process; on a masked model that masks each position with probability ``t / num_steps``), denoises
    them with the pretrained model and scores them; the design becomes the best of itself and its
    candidates (alpha = 0), or a draw from softmax(reward / alpha) over them. Reward calls per
    design: ``init + rounds * num_candidates`` at most (repeats are cache hits in the engine).
    """
    if not hasattr(model, "renoise"):
        raise TypeError(f"refine needs a model with renoise(); {type(model).__name__} has none")
    check_count("rounds", rounds, 0)
    check_count("init", init, 1)
    if not isinstance(renoise_to, (int, float)) or not 0.0 < renoise_to <= 1.0:
        raise ValueError(f"renoise_to must be in (0, 1] (a share of the reverse steps), got {renoise_to!r}")
    x, rewards = yield from best_of_n(model, num_samples=num_samples, num_candidates=init, generator=generator)
    start = max(1, math.ceil(renoise_to * model.num_steps))
    rows = torch.arange(num_samples)
    for _ in range(rounds):
        candidates = model.renoise(x.repeat_interleave(num_candidates, dim=0), start, generator)
        for t in range(start, 0, -1):
            candidates = model.propose(candidates, t, generator)
        values = yield ValueRequest(candidates, 0)
        pool = torch.cat([rewards.view(num_samples, 1), values.view(num_samples, num_candidates)], dim=1)
        pick = select_candidates(pool, alpha, generator).cpu()
        keep = pick == 0
        moved = (rows * num_candidates + (pick - 1).clamp_min(0)).to(candidates.device)
        x = torch.where(keep.to(x.device).view(-1, *([1] * (x.dim() - 1))), x, candidates[moved])
        rewards = pool[rows, pick]
    return x, rewards


def _denoise(model: DiffusionModel, x: Tensor, steps: Tensor, generator: torch.Generator, moves: int = 0) -> Tensor:
    """Move each row of ``x``, a state at its own step ``steps[i]``, by the pretrained model: ``moves`` steps, or
    down to step 0 when ``moves`` is 0. Rows at the same step share one call of ``propose``."""
    x = x.clone()
    for t in range(int(steps.max()) if len(steps) else 0, 0, -1):
        rows = (steps >= t) & ((steps - t < moves) if moves else True)
        if bool(rows.any()):
            idx = rows.nonzero().flatten().to(x.device)
            x[idx] = model.propose(x[idx], t, generator)
    return x


class _Node:
    """A state of one design's search tree: its step, children, visits and backed-up value."""

    __slots__ = ("t", "x", "children", "visits", "value", "own", "closed")

    def __init__(self, t: int, x: Tensor, own: float | None = None) -> None:
        self.t, self.x, self.children, self.own, self.closed = t, x, [], own, t == 0
        self.visits = 0 if own is None else 1
        self.value = -math.inf if own is None else own


def _backup(values: list[float], alpha: float) -> float:
    """The soft-Bellman value of a node from its children's (and its own rollout's) values: max at alpha = 0,
    else ``alpha * log mean exp(v / alpha)``."""
    finite = torch.tensor([v for v in values if math.isfinite(v)], dtype=torch.float64)
    if not len(finite):
        return -math.inf
    if alpha == 0:
        return float(finite.max())
    return float(alpha * (torch.logsumexp(finite / alpha, 0) - math.log(len(values))))


def _select(node: _Node, alpha: float, exploration: float, spread: float, generator: torch.Generator) -> _Node:
    """The open child to descend into: a draw from softmax(v / alpha), or at alpha = 0 the best by value plus
    ``exploration * spread * sqrt(log(visits) / child visits)`` (UCT; ``spread``: the tree's reward range)."""
    children = [c for c in node.children if not c.closed]
    values = torch.tensor([c.value for c in children], dtype=torch.float64)
    if alpha > 0:
        return children[int(select_candidates(values.view(1, -1), alpha, generator)[0])]
    visits = torch.tensor([c.visits for c in children], dtype=torch.float64)
    bonus = exploration * spread * torch.sqrt(math.log(max(node.visits, 1)) / visits)
    return children[int(rankable(values + bonus).argmax())]


def tree_search(
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int,
    alpha: float,
    generator: torch.Generator,
    rollouts: int = 16,
    exploration: float = 1.0,
) -> Sampler:
    """Diffusion tree search with final rewards (the greedy DTS* variant): one tree per design.

    Each of ``rollouts`` iterations walks every design's tree from its root (the prior state): a
    node with fewer than ``num_candidates`` children gets a new one, ``x_{t-1} ~ p_pre(. | x_t)``;
    otherwise the walk descends into a child chosen by the backed-up values (UCT at alpha = 0, with
    ``exploration`` times the tree's reward range as the bonus scale; a draw from softmax(v / alpha)
    otherwise). The new child is rolled out to a clean sample by the pretrained model and scored -
    one reward call per design and iteration - and the reward is backed up to the root by the soft
    Bellman equation (max at alpha = 0). States are reused: later rollouts branch from the best
    ones. The output is each design's best scored sample. Fully explored subtrees are skipped; a
    design whose whole tree is explored stops early.
    """
    check_count("rollouts", rollouts, 1)
    if not isinstance(exploration, (int, float)) or not math.isfinite(exploration) or exploration < 0:
        raise ValueError(f"exploration must be a finite number >= 0, got {exploration!r}")
    start = model.sample_prior(num_samples, generator)
    roots = [_Node(model.num_steps, start[i]) for i in range(num_samples)]
    best_x, best_r = start.clone(), torch.full((num_samples,), math.nan, dtype=torch.float64)
    low = torch.full((num_samples,), math.inf, dtype=torch.float64)  # the lowest valid reward of each tree
    scored = torch.zeros(num_samples, dtype=torch.bool)
    for _ in range(rollouts):
        active = [i for i, root in enumerate(roots) if not root.closed]
        if not active:
            break
        paths = []
        for i in active:
            spread = float(best_r[i] - low[i]) if math.isfinite(best_r[i] - low[i]) else 0.0
            path = [roots[i]]
            while len(path[-1].children) >= num_candidates:
                path.append(_select(path[-1], alpha, exploration, spread, generator))
            paths.append(path)
        parents = torch.stack([path[-1].x for path in paths])
        steps = torch.tensor([path[-1].t for path in paths])
        children = _denoise(model, parents, steps, generator, moves=1)
        finals = _denoise(model, children, steps - 1, generator)
        rewards = yield ValueRequest(finals, 0)
        for k, (i, path) in enumerate(zip(active, paths)):
            reward = float(rewards[k])
            path[-1].children.append(_Node(path[-1].t - 1, children[k], reward))
            if not scored[i] or rankable(rewards[k : k + 1])[0] > rankable(best_r[i : i + 1])[0]:
                best_x[i], best_r[i], scored[i] = finals[k], rewards[k], True
            if math.isfinite(reward):
                low[i] = min(float(low[i]), reward)
            for node in reversed(path):
                node.visits += 1
                own = [] if node.own is None else [node.own]
                node.value = _backup(own + [c.value for c in node.children], alpha)
                node.closed = len(node.children) >= num_candidates and all(c.closed for c in node.children)
    return best_x, best_r


def dps(
    model: DiffusionModel,
    *,
    num_samples: int,
    generator: torch.Generator,
    guide: Callable[[Tensor, int], Tensor],
    guidance_scale: float = 1.0,
) -> Sampler:
    """Gradient guidance: each proposal is steered by the gradient of a differentiable value.

    The model supplies ``guided_propose`` (Gaussian: DPS mean shift; masked: transition tilt).
    """
    if not hasattr(model, "guided_propose"):
        raise TypeError(f"dps needs a model with guided_propose(); {type(model).__name__} has none")
    x = model.sample_prior(num_samples, generator)
    for t in range(model.num_steps, 0, -1):
        x = model.guided_propose(x, t, generator, guide, guidance_scale).detach()
    rewards = yield ValueRequest(x, 0)
    return x, rewards


METHODS: dict[str, Callable[..., Sampler]] = {
    "pretrained": pretrained,
    "best_of_n": best_of_n,
    "svdd": svdd,
    "smc": smc,
    "particle_gibbs": particle_gibbs,
    "beam": beam,
    "dps": dps,
    "refine": refine,
    "tree_search": tree_search,
}

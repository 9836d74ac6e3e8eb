"""Cheap surrogates of an expensive reward, learned online or fitted offline, for pre-screening candidates.

A surrogate is ``target(**options)`` returning an object with ``fit(objects, scores)`` and
``predict(objects) -> np.ndarray`` (see :class:`Surrogate`). Pre-screening (a :class:`PrescreenPolicy`
per batch and component, configured per reward component as ``prescreen:``) ranks a step's candidates by
the surrogate, sends the best share (plus a few random ones, to explore) to the expensive reward and
gives the rest the surrogate's prediction. The surrogate of a batch learns only from the scores of
that batch's own earlier steps, so which candidates are scored never depends on timing: runs stay
deterministic under a seed, with any number of batches in flight. A surrogate fitted offline on the
scores of earlier runs (:class:`LinearSurrogate`, ``weights`` of the built-ins) is frozen, so the same
holds, and it can rank from the first step on. Built-ins: :func:`onehot_ridge` here (strings) and
``morgan_ridge`` in :mod:`svdd_ray.chem.surrogates` (molecules), both a :class:`RidgeSurrogate` over features.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from svdd_ray.config import PrescreenConfig

__all__ = [
    "LinearSurrogate",
    "PrescreenPolicy",
    "RidgeSurrogate",
    "Screening",
    "Surrogate",
    "SurrogateReward",
    "build_surrogates",
    "first_objects",
    "load_surrogate",
    "onehot_ridge",
    "prescreen",
    "save_surrogate",
]


@runtime_checkable
class Surrogate(Protocol):
    """A regressor over objects, refitted from scratch by each ``fit``."""

    def fit(self, objects: Sequence, scores: Sequence[float]) -> None: ...

    def predict(self, objects: Sequence) -> np.ndarray: ...


class RidgeSurrogate:
    """Kernel ridge regression with a linear kernel on ``features(objects)`` (rows), solved in the dual.

    The dual form costs ``O(n^2 d)`` for ``n`` scored objects, cheap for the hundreds a batch sees.
    Features are standardised by the training rows; predictions of an unfitted surrogate, and of
    objects whose features are NaN (an invalid molecule), are NaN: they rank last.
    """

    def __init__(self, features, l2: float = 1.0) -> None:
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2!r}")
        self.features, self.l2 = features, float(l2)
        self._fitted: tuple | None = None

    def fit(self, objects: Sequence, scores: Sequence[float]) -> None:
        y = np.asarray(scores, dtype=np.float64)
        x = self.features(list(objects)) if len(y) else np.zeros((0, 0))
        keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
        if keep.sum() < 2:
            self._fitted = None
            return
        x, y = x[keep], y[keep]
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        gram = z @ z.T / z.shape[1]
        dual = np.linalg.solve(gram + self.l2 * np.eye(len(z)), y - y.mean())
        self._fitted = (mean, scale, z, dual, y.mean())

    def predict(self, objects: Sequence) -> np.ndarray:
        if self._fitted is None:
            return np.full(len(objects), math.nan)
        mean, scale, z, dual, offset = self._fitted
        q = (self.features(list(objects)) - mean) / scale
        return offset + (q @ z.T / z.shape[1]) @ dual

    def frozen(self) -> LinearSurrogate:
        """The fitted model in primal form (one weight per feature), which ``fit`` no longer changes."""
        if self._fitted is None:
            raise ValueError("the surrogate has not been fitted (fewer than 2 finite scores)")
        mean, scale, z, dual, offset = self._fitted
        return LinearSurrogate(self.features, mean, scale, z.T @ dual / z.shape[1], offset)


class LinearSurrogate:
    """A fitted linear model over standardised ``features``; frozen: ``fit`` keeps it as it is.

    Fitted offline (``jobs/fit_surrogate.py``) on scores of earlier runs, it ranks from a run's first
    step, the final candidates of best-of-N included, and its choices never depend on the run.
    """

    def __init__(self, features, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, offset: float) -> None:
        self.features = features
        self.mean, self.scale, self.coef, self.offset = mean, scale, coef, float(offset)

    def fit(self, objects: Sequence, scores: Sequence[float]) -> None:
        """Frozen: learns nothing online."""

    def predict(self, objects: Sequence) -> np.ndarray:
        return self.offset + ((self.features(list(objects)) - self.mean) / self.scale) @ self.coef


def save_surrogate(surrogate: LinearSurrogate, path: str | Path, **meta) -> None:
    """Write ``surrogate``'s weights and ``meta`` (JSON-able: its features' options, where it was fitted) to an
    ``.npz``, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        arrays = {"mean": surrogate.mean, "scale": surrogate.scale, "coef": surrogate.coef}
        np.savez(handle, **arrays, offset=surrogate.offset, meta=json.dumps(meta))
    partial.replace(path)


def load_surrogate(path: str | Path, features, **expected) -> LinearSurrogate:
    """The surrogate saved at ``path``, over ``features``; ``expected`` feature options must match its meta."""
    with np.load(Path(path), allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        for key, value in expected.items():
            if key in meta and meta[key] != value:
                raise ValueError(f"{path} was fitted with {key}={meta[key]!r}, not {value!r}: set the same option")
        return LinearSurrogate(features, data["mean"], data["scale"], data["coef"], float(data["offset"]))


def onehot_ridge(alphabet: str = "01", l2: float = 1.0, weights: str | None = None) -> RidgeSurrogate | LinearSurrogate:
    """Ridge on the per-position one-hot letters of equal-length strings (``onehot_ridge``; DNA: ``"ACGT"``);
    with ``weights`` the frozen model fitted offline."""
    index = {letter: i for i, letter in enumerate(alphabet)}

    def features(strings: Sequence[str]) -> np.ndarray:
        length = max((len(s) for s in strings), default=0)
        out = np.zeros((len(strings), length * len(alphabet)))
        for row, text in enumerate(strings):
            for pos, letter in enumerate(text):
                if letter in index:
                    out[row, pos * len(alphabet) + index[letter]] = 1.0
        return out

    if weights is not None:
        return load_surrogate(weights, features, alphabet=alphabet)
    return RidgeSurrogate(features, l2)


class SurrogateReward:
    """A frozen surrogate used as a reward: a cheap fidelity of a value plan (built-in reward ``surrogate``).

    ``surrogate`` names the surrogate (a built-in such as ``morgan_ridge``, or ``"pkg.module:name"``),
    ``options`` its options, ``weights`` among them (a file from ``jobs/fit_surrogate.py``). Objects
    the surrogate cannot featurise (invalid molecules) score NaN, as the real reward would.
    """

    def __init__(self, surrogate: str = "morgan_ridge", **options) -> None:
        from svdd_ray.errors import ConfigError
        from svdd_ray.plugins import build

        if "weights" not in options:
            raise ConfigError("weights: required, a reward needs a surrogate fitted offline (jobs/fit_surrogate.py)")
        self.model = build("surrogate", surrogate, options, key="surrogate")

    def __call__(self, objects: list) -> list[float]:
        return [float(v) for v in self.model.predict(list(objects))]


def prescreen(predicted: np.ndarray, keep: float, explore: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the candidates to score: the top ``ceil(keep * n)`` by ``predicted``, ``explore`` of them at random.

    ``explore`` is the share of the budget drawn uniformly from the candidates not already picked;
    NaN predictions rank last. Returned sorted.
    """
    n = len(predicted)
    budget = min(n, math.ceil(keep * n))
    random_share = min(budget, round(explore * budget))
    order = np.argsort(np.where(np.isfinite(predicted), -predicted, np.inf), kind="stable")
    chosen = list(order[: budget - random_share])
    rest = order[budget - random_share :]
    if random_share:
        chosen += list(rng.choice(rest, size=random_share, replace=False))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def first_objects(keys: Sequence[str], objects: Sequence) -> dict[str, Any]:
    """Each distinct key with the first of its objects, in the order keys first appear."""
    first: dict[str, Any] = {}
    for key, obj in zip(keys, objects):
        first.setdefault(key, obj)
    return first


@dataclass(frozen=True)
class Screening:
    """A :class:`PrescreenPolicy`'s choice for one request: the distinct keys to ``score`` with the reward,
    and ``guesses``, the value each other key takes instead (the surrogate's; NaN for final candidates)."""

    score: list[str]
    guesses: dict[str, float]


class PrescreenPolicy:
    """Pre-screening of one reward component in one batch (one attempt of it): which candidates get the reward.

    ``choose`` ranks a request's distinct candidates, cached or not (the cache's contents depend on
    timing, the choice must not), by ``surrogate`` refitted on the real scores ``learn`` gave it, and
    scores the top ``plan.keep`` share, ``plan.explore`` of it drawn by an rng seeded from (``seed``,
    ``batch``, step). It scores everything until it has learned ``plan.min_scored`` scores. Final
    candidates (``final``) are scored in full unless ``plan.final``; then each chain's share is picked
    and the rest get NaN. ``surrogate`` is refitted before each prediction, so batches may share one.
    """

    def __init__(self, surrogate: Surrogate, plan: PrescreenConfig, *, seed: int, batch: int) -> None:
        self.surrogate, self.plan, self.seed, self.batch = surrogate, plan, seed, batch
        self.seen: dict[str, tuple[Any, float]] = {}  # key -> (object, real score), in the order learned
        self._guessed: set[str] = set()  # keys valued by the surrogate in the latest choice

    def choose(
        self, keys: Sequence[str], objects: Sequence, *, step: int, final: bool = False, chains: int = 1
    ) -> Screening:
        """The keys to score among ``keys`` (one per object) at the batch's ``step``-th reward request;
        ``final``: the final candidates, in ``chains`` consecutive groups of equal size."""
        first = first_objects(keys, objects)
        self._guessed = set()
        if len(self.seen) < self.plan.min_scored or (final and not self.plan.final):
            return Screening(list(first), {})
        predicted = self._predict(first)
        rng = np.random.default_rng([self.seed, self.batch, step])
        if final:
            picked = self._pick_per_chain(list(keys), predicted, chains, rng)
        else:
            picked = self._pick(list(first), predicted, rng)
        guesses = {key: math.nan if final else float(predicted[key]) for key in first if key not in picked}
        self._guessed = set(guesses)
        return Screening([key for key in first if key in picked], guesses)

    def learn(self, keys: Sequence[str], objects: Sequence, scores: Mapping[str, float]) -> None:
        """Remember the scores of a request's candidates (``keys`` with their ``objects``) that ``scores`` holds,
        the first of each key; the latest choice's guesses are not real scores and are skipped."""
        for key, obj in zip(keys, objects):
            if key in scores and key not in self.seen and key not in self._guessed:
                self.seen[key] = (obj, scores[key])

    def _predict(self, first: dict[str, Any]) -> dict[str, np.float64]:
        """The surrogate's value of each distinct key's object, refitted on this batch's own scores first (none:
        unfitted, all NaN - never what another batch fitted into the shared surrogate, which depends on timing)."""
        objects, scores = zip(*self.seen.values()) if self.seen else ((), ())
        self.surrogate.fit(list(objects), list(scores))
        values = np.asarray(self.surrogate.predict(list(first.values())), dtype=np.float64)
        return dict(zip(first, values))

    def _pick(self, keys: list[str], predicted: dict, rng: np.random.Generator) -> set[str]:
        """The keys :func:`prescreen` picks among ``keys``."""
        chosen = prescreen(np.array([predicted[k] for k in keys]), self.plan.keep, self.plan.explore, rng)
        return {keys[i] for i in chosen}

    def _pick_per_chain(self, keys: list[str], predicted: dict, chains: int, rng: np.random.Generator) -> set[str]:
        """The keys picked within each chain's consecutive group of ``keys`` (repeats included)."""
        group = len(keys) // chains
        picked: set[str] = set()
        for start in range(0, len(keys), group):
            picked |= self._pick(keys[start : start + group], predicted, rng)
        return picked


def build_surrogates(components) -> dict[str, Surrogate]:
    """The surrogate of each reward component that has ``prescreen`` (by component name); errors name the key."""
    from svdd_ray.plugins import build

    out = {}
    for i, comp in enumerate(components):
        if comp.prescreen is not None:
            spec = comp.prescreen.surrogate
            key = f"reward.components[{i}].prescreen.surrogate.target"
            out[comp.name] = build("surrogate", spec.target, spec.options, key=key)
    return out

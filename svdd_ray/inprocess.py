"""In-process sampling: ``sample()`` runs one sampler against a local value function; the seeds, sampler
construction and option checks that the engine's denoisers share (:mod:`svdd_ray.samplers` holds the methods)."""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from svdd_ray.protocol import DiffusionModel, Value
from svdd_ray.samplers import METHODS, Sampler, check_count

#: Arguments that ``sample()`` supplies itself; the rest of a sampler's keywords are options.
COMMON_ARGS = ("num_samples", "num_candidates", "alpha", "generator")


@dataclass
class SampleResult:
    """Final samples: states, decoded objects, their rewards and how many states were scored."""

    x0: Tensor
    objects: list
    rewards: Tensor
    value_calls: int

    @property
    def values(self) -> Tensor:
        """Deprecated name of :attr:`rewards`."""
        warnings.warn("SampleResult.values was renamed to SampleResult.rewards", DeprecationWarning, stacklevel=2)
        return self.rewards


def batch_seed(seed: int, batch: int) -> int:
    """A well-mixed 63-bit seed for batch ``batch`` of a run seeded with ``seed``."""
    state = np.random.SeedSequence([seed, batch]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1])) & (2**63 - 1)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def sampler_options(method: str) -> list[str]:
    """The options (beyond the common arguments) that ``method`` accepts."""
    params = inspect.signature(METHODS[method]).parameters
    return [name for name in params if name != "model" and name not in COMMON_ARGS]


def make_sampler(
    method: str,
    model: DiffusionModel,
    *,
    num_samples: int,
    num_candidates: int = 1,
    alpha: float = 0.0,
    generator: torch.Generator,
    **options: Any,
) -> Sampler:
    """Validate arguments and build the sampler coroutine for ``method``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    check_count("num_samples", num_samples, 1)
    check_count("num_candidates", num_candidates, 1)
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    allowed = sampler_options(method)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"method {method!r} has no option {unknown[0]!r} (options: {allowed or 'none'})")
    common = dict(num_samples=num_samples, num_candidates=num_candidates, alpha=float(alpha), generator=generator)
    params = inspect.signature(METHODS[method]).parameters
    kwargs = {k: v for k, v in common.items() if k in params}
    return METHODS[method](model, **kwargs, **options)


class _Touched(Exception):
    """Raised when a sampler under :func:`check_sampler_options` first calls its model."""


class _StandIn:
    """A model that has ``num_steps`` and raises :class:`_Touched` from any method call."""

    num_steps = 8

    def __getattr__(self, name: str) -> Any:
        def touched(*args: Any, **kwargs: Any) -> None:
            raise _Touched(name)

        return touched


def check_sampler_options(method: str, *, num_candidates: int = 1, alpha: float = 0.0, **options: Any) -> None:
    """Raise ValueError or TypeError where ``method`` refuses ``options``, before any model exists.

    The sampler itself runs on a stand-in model until it first calls it, so the checks are the
    sampler's own (one copy) and a config is refused before a run starts, not in its first batch.
    """
    if "guide" in sampler_options(method):  # supplied by the value plan at run time
        options = {"guide": None, **options}
    sampler = make_sampler(
        method, _StandIn(), num_samples=1, num_candidates=num_candidates, alpha=alpha,
        generator=torch.Generator(), **options,
    )  # fmt: skip
    try:
        next(sampler)
    except (_Touched, StopIteration):
        pass
    finally:
        sampler.close()


def as_values(scores: Any, n: int, source: str = "value") -> Tensor:
    """Check that ``scores`` holds ``n`` numbers; return float64 with non-finite as NaN."""
    values = torch.as_tensor(scores.detach() if isinstance(scores, Tensor) else list(scores))
    values = values.to(device="cpu", dtype=torch.float64)
    if values.shape != (n,):
        raise ValueError(f"{source} returned shape {tuple(values.shape)} for {n} states; expected ({n},)")
    return torch.where(torch.isfinite(values), values, torch.full_like(values, torch.nan))


def drive(sampler: Sampler, value: Value) -> tuple[Tensor, Tensor, int]:
    """Run a sampler to the end with a local value; return ``(x0, rewards, states scored)``."""
    calls = 0
    with torch.no_grad():
        request = next(sampler)
        while True:
            values = as_values(value(request.x, request.t), len(request.x))
            calls += len(request.x)
            try:
                request = sampler.send(values)
            except StopIteration as stop:
                x0, rewards = stop.value
                return x0, rewards, calls


def sample(
    model: DiffusionModel,
    value: Value,
    *,
    method: str,
    num_samples: int,
    num_candidates: int = 1,
    alpha: float = 0.0,
    seed: int = 0,
    **options: Any,
) -> SampleResult:
    """Draw ``num_samples`` designs from ``model`` guided by ``value`` with ``method``.

    Methods: ``pretrained``, ``best_of_n``, ``svdd``, ``smc``, ``particle_gibbs``, ``beam``, ``dps``,
    ``refine``, ``tree_search`` (see :mod:`svdd_ray.samplers`). ``value(x, t)`` scores states; at ``t = 0``
    it is the reward.
    ``dps`` steers by the gradient of ``options["guide"]``, by default the value itself, which
    must then be differentiable.
    """
    if method == "dps":
        options.setdefault("guide", value)
    generator = make_generator(seed, getattr(model, "device", "cpu"))
    sampler = make_sampler(
        method,
        model,
        num_samples=num_samples,
        num_candidates=num_candidates,
        alpha=alpha,
        generator=generator,
        **options,
    )
    x0, rewards, calls = drive(sampler, value)
    return SampleResult(x0=x0, objects=model.decode(x0), rewards=rewards, value_calls=calls)

"""The contracts every model, value and reward in svdd_ray satisfies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

#: A soft value ``value(x, t) -> Tensor[n]``: higher is better; at ``t = 0`` it is the reward.
Value = Callable[[Tensor, int], Tensor]

#: How a PM value completes the positions a masked model has not revealed yet (``value.fill``).
FILLS = ("argmax", "sample", "soft", "uniform")
#: Fills whose objects are probabilities - float ``[length, alphabet]`` arrays, rows one-hot where
#: revealed - which only rewards declaring ``reads_probabilities = True`` accept.
PROBABILITY_FILLS = ("soft", "uniform")


@runtime_checkable
class Reward(Protocol):
    """``reward(objects) -> scores``: one float per decoded object, higher is better.

    NaN, inf or an exception marks an object invalid (it ranks below every valid one). A plain
    function is a reward; a class is built once per reward actor with the config's ``options``
    (keep construction cheap: the driver builds one too, to check options and compute cache keys;
    load heavy state such as receptor maps on the first call). Two optional methods:

    * ``canonical_key(obj) -> str``: objects with equal keys are scored once per run and cached
      (molecules key on canonical SMILES). An ordinary method; a function reward gets one with
      :func:`svdd_ray.rewards.keyed_by`. Without it, the key is the object's content.
    * ``close()``: release workers or files; called when the run ends.

    A class attribute ``reads_probabilities = True`` declares that the reward also scores float
    ``[length, alphabet]`` arrays of per-position probabilities (``value.fill: soft | uniform``), and
    ``reads = "molecules"`` (a function: ``@svdd_ray.rewards.reads("molecules")``) the domain of the
    objects it scores, so that a model of another built-in domain is refused when the run starts.
    """

    def __call__(self, objects: list) -> Sequence[float]: ...


@runtime_checkable
class DiffusionModel(Protocol):
    """A pretrained diffusion model seen as a reverse-time Markov chain of ``num_steps`` steps.

    Two optional methods let a denoiser actor run the calls of several batches as one pass
    (``resources.max_rows_per_pass``): ``propose_stacked(xs, ts, generators) -> list`` equal to
    ``[propose(x, t, g) for x, t, g in zip(xs, ts, generators)]`` and ``predict_x0_stacked(xs, ts)``
    equal to ``[predict_x0(x, t) ...]``, each ``x`` drawing from its own generator as alone. They are
    used only where the class that defines ``propose`` (``predict_x0``) defines them too; without
    them each call runs alone. The built-in models run their network once over all rows
    (:func:`svdd_ray.models.stacking.network_pass`).
    """

    num_steps: int

    def sample_prior(self, n: int, generator: torch.Generator) -> Tensor:
        """Return ``n`` fully noised states (step ``num_steps``)."""
        ...

    def propose(self, x: Tensor, t: int, generator: torch.Generator) -> Tensor:
        """Draw one ``x_{t-1} ~ p_pre(. | x_t)`` per row of ``x``; ``t`` runs from ``num_steps`` to 1."""
        ...

    def predict_x0(self, x: Tensor, t: int) -> Tensor:
        """The model's denoised estimate of ``x0`` from states at step ``t`` (``t = 0``: ``x`` itself)."""
        ...

    def decode(self, x0: Tensor) -> list:
        """The objects that rewards score (SMILES strings, uint8 images, sequences)."""
        ...

"""Cell-type specificity rewards on 200-bp DNA (``ACGT`` strings) and the matching DPS guide.

* :class:`HepG2Specificity` (reward ``hepg2``) - the objective SVDD optimises: under the *guide*
  classifier (:mod:`svdd_ray.dna.classifier`), the target cell type's logit minus the largest
  logit of the other three (as in DNA-CRAFT's differential objective: the log-odds of HepG2
  against the strongest competing cell type). Positive = predicted HepG2-specific.
* :class:`HepG2Oracle` (reward ``hepg2_oracle``) - the same quantity under the *evaluation
  oracle*, a different architecture trained on disjoint chromosomes. Report it, never steer by it:
  a gain on ``hepg2`` that does not show here is reward hacking.
* :func:`hepg2_guide` (guide ``hepg2``) - the differentiable value for ``method="dps"`` on the
  masked diffusion prior (:class:`svdd_ray.models.MaskedDiffusion`).

Sequences must be ``ACGT`` strings (either case) of length 200; anything else raises a one-line
``ValueError`` naming the row (the engine then scores the batch row by row and marks only the
bad rows invalid).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from svdd_ray.rewards import content_key

from .classifier import load_classifier
from .data import ALPHABET, CELL_TYPES, SEQ_LEN, encode, one_hot

__all__ = ["HepG2Specificity", "HepG2Oracle", "HepG2Guide", "hepg2_guide", "specificity"]


def _cell_index(cell: str) -> int:
    if cell not in CELL_TYPES:
        raise ValueError(f"cell must be one of {', '.join(CELL_TYPES)}, got {cell!r}")
    return CELL_TYPES.index(cell)


def probabilities(array: np.ndarray, field: str) -> np.ndarray:
    """Check a per-base probability array (``[200, 4]``, rows summing to 1) and return it as float32."""
    if array.shape != (SEQ_LEN, len(ALPHABET)):
        raise ValueError(f"{field}: probabilities must have shape ({SEQ_LEN}, {len(ALPHABET)}), got {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all() or (array < 0).any() or not np.allclose(array.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"{field}: probabilities must be finite, >= 0 and sum to 1 per position")
    return array


def specificity(logits: Tensor, target: int) -> Tensor:
    """``logits[:, target] - max(logits[:, other])``: ``[n, C]`` -> ``[n]`` (differentiable)."""
    others = torch.cat([logits[:, :target], logits[:, target + 1 :]], dim=1)
    return logits[:, target] - others.amax(dim=1)


class HepG2Specificity:
    """``reward(sequences) -> list[float]``: cell-type specificity under the guide classifier.

    Args:
        checkpoint: classifier ``state_dict``; default ``checkpoints/dna/guide_classifier.pt``
            (``$SVDD_RAY_DNA_CHECKPOINTS`` sets the directory).
        device: where the classifier runs.
        cell: the target cell type (one of ``CELL_TYPES``); the reward is its logit minus the
            largest other logit.
        batch_size: rows per classifier call.
    """

    #: the objects it scores (a model of another domain is refused when the config loads)
    reads = "dna"

    #: which classifier (see :func:`svdd_ray.dna.classifier.load_classifier`)
    kind = "guide"
    #: also scores ``[200, 4]`` per-base probabilities (``value.fill: soft | uniform``)
    reads_probabilities = True

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        cell: str = "HepG2",
        batch_size: int = 1024,
    ):
        self.cell = cell
        self.target = _cell_index(cell)
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.classifier = load_classifier(self.kind, checkpoint, self.device)
        self._field = f"{self.reward_name} reward: sequence"

    @property
    def reward_name(self) -> str:
        name = self.cell.lower()
        return name if self.kind == "guide" else f"{name}_oracle"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cell={self.cell!r}, device='{self.device}')"

    def canonical_key(self, seq) -> str:
        """The upper-case sequence (the classifier reads either case the same); a probability array's content digest."""
        return seq.upper() if isinstance(seq, str) else content_key(seq)

    def score_onehot(self, x: Tensor) -> Tensor:
        """Differentiable specificity of one-hot ``x [n, 4, L]`` (any float weights) -> ``[n]``."""
        logits = self.classifier(x.to(self.device, torch.float32))
        return specificity(logits, self.target).to(x.device)

    def __call__(self, sequences: Sequence[str | np.ndarray]) -> list[float]:
        """Score ``ACGT`` strings, or per-base probability arrays ``[200, 4]`` (a PM value's soft fill)."""
        if isinstance(sequences, str):
            raise ValueError(f"{self._field}: expected a list of sequences, got one string")
        sequences = list(sequences)
        if sequences and all(isinstance(s, np.ndarray) for s in sequences):
            rows = [probabilities(s, f"{self._field}[{i + 1}]") for i, s in enumerate(sequences)]
            x = torch.from_numpy(np.stack(rows)).transpose(1, 2)
        else:
            x = one_hot(encode(sequences, length=SEQ_LEN, field=self._field))
        out: list[float] = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                out.extend(self.score_onehot(x[start : start + self.batch_size]).cpu().tolist())
        return [float(v) for v in out]

    def guide(self, model, mask_fill: str = "x0") -> HepG2Guide:
        """The DPS value on ``model`` (a :class:`~svdd_ray.models.MaskedDiffusion`); see :class:`HepG2Guide`."""
        return HepG2Guide(model, self, mask_fill)


class HepG2Oracle(HepG2Specificity):
    """:class:`HepG2Specificity` under the evaluation oracle (``checkpoints/dna/oracle_classifier.pt``).

    For evaluation only: a different architecture trained on the other half of the chromosomes.
    """

    kind = "oracle"


class HepG2Guide:
    """``guide(onehot [n, L, 5], t) -> [n]``: the reward of the expected clean sequence, differentiable.

    ``onehot`` is the masked diffusion state as float one-hot with the mask channel last (what
    :meth:`MaskedDiffusion.guided_propose` passes). Like :class:`~svdd_ray.images.rewards.DigitGuide`,
    which values the model's clean prediction ``x0_hat``, the classifier sees the state with each
    masked position filled by a clean-token estimate::

        x_in[:, c, i] = onehot[:, i, c] + onehot[:, i, mask] * p[:, i, c]     (c in A, C, G, T)

    With ``mask_fill="x0"`` (default) ``p`` is the model's ``x0`` distribution at step ``t``
    (``softmax(model.x0_logits(x, t))``, computed without gradient); with ``"uniform"`` it is
    0.25 per base. Revealed positions pass through unchanged, so on a fully revealed state the
    value equals the reward. The gradient for base ``c`` at a masked position is the classifier's
    sensitivity to that base, and for the mask outcome it is the ``p``-weighted average: a
    first-order look-ahead around the expected ``x0``, which is what the transition tilt of
    predictor guidance needs.
    """

    def __init__(self, model, reward: HepG2Specificity, mask_fill: str = "x0"):
        if mask_fill not in ("x0", "uniform"):
            raise ValueError(f"hepg2 guide: mask_fill must be 'x0' or 'uniform', got {mask_fill!r}")
        self.model = model
        self.reward = reward
        self.mask_fill = mask_fill

    def fill(self, onehot: Tensor, t: int) -> Tensor:
        """Classifier input ``[n, 4, L]`` from the state ``onehot [n, L, 5]`` (differentiable in it)."""
        if onehot.dim() != 3 or onehot.shape[-1] != 5:
            raise ValueError(f"hepg2 guide: expected one-hot states [n, L, 5], got shape {tuple(onehot.shape)}")
        clean, mask = onehot[..., :4], onehot[..., 4:]
        if self.mask_fill == "uniform" or t == 0 or self.model is None:
            p = torch.full_like(clean, 0.25)
        else:
            with torch.no_grad():
                tokens = onehot.detach().argmax(dim=-1)
                if bool((tokens == 4).any()):
                    p = torch.softmax(self.model.x0_logits(tokens, t).float(), dim=-1)[..., :4].to(clean)
                else:
                    p = torch.zeros_like(clean)
        return (clean + mask * p).transpose(1, 2)

    def __call__(self, onehot: Tensor, t: int) -> Tensor:
        return self.reward.score_onehot(self.fill(onehot, t))


def hepg2_guide(
    model, cell: str = "HepG2", checkpoint: str | os.PathLike | None = None, mask_fill: str = "x0"
) -> HepG2Guide:
    """Guide factory for the engine's ``value.guide`` (method ``dps``) on the DNA masked-diffusion prior.

    Called inside each denoiser actor as ``hepg2_guide(model, **value.guide_options)``; the guide
    classifier runs on the model's device. Config::

        value: {guide: hepg2, guide_options: {cell: HepG2}}
        run: {method: dps, options: {guidance_scale: 2.0}}
    """
    device = getattr(model, "device", "cpu") if model is not None else "cpu"
    return HepG2Specificity(checkpoint, device=device, cell=cell).guide(model, mask_fill)

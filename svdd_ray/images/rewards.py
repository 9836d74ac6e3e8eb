"""Rewards on decoded digit images (``uint8`` numpy arrays ``[H, W]``, 0 = background, 255 = ink).

* :func:`compressibility` - negative JPEG file size in **bytes** (Pillow, quality 95, baseline
  Huffman tables, no chroma). Non-differentiable. Higher = more compressible.
* :class:`DigitReward` - log-probability of a target digit under the committed
  :class:`~svdd_ray.images.classifier.DigitClassifier`; also differentiable via
  :meth:`DigitReward.log_prob_tensor` for gradient (DPS) guidance.

Rewards never raise on bad objects: an object of the wrong shape, with non-finite values, or
that cannot be read as an image scores ``NaN``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .classifier import DigitClassifier, default_classifier_path, load_classifier, train_classifier

__all__ = [
    "JPEG_QUALITY",
    "jpeg_size",
    "compressibility",
    "DigitReward",
    "DigitGuide",
    "digit_guide",
    "DigitClassifier",
    "train_classifier",
    "load_classifier",
    "default_classifier_path",
]

#: JPEG quality used by :func:`compressibility` (as in DDPO's JPEG-compressibility reward).
JPEG_QUALITY = 95


def _as_uint8_image(obj) -> np.ndarray | None:
    """A 2-D uint8 array from ``obj``, or None if it is not a valid grayscale image.

    Accepts ``[H, W]`` or ``[1, H, W]`` / ``[H, W, 1]``; non-uint8 arrays must be finite and are
    clipped to ``0..255`` and rounded.
    """
    try:
        arr = np.asarray(obj)
    except Exception:
        return None
    if arr.dtype == object or arr.size == 0:
        return None
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim != 2:
        return None
    if arr.dtype == np.uint8:
        return arr
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        return None
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        return None
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def jpeg_size(image: np.ndarray, quality: int = JPEG_QUALITY) -> int:
    """Size in bytes of ``image`` (2-D uint8) saved as a grayscale JPEG at ``quality``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=quality)
    return buf.tell()


def compressibility(images: Sequence[np.ndarray], quality: int = JPEG_QUALITY) -> list[float]:
    """Negative JPEG size in bytes of each image (``-len(jpeg)``); NaN for an invalid image.

    A blank image scores higher (less negative) than noise. For 8x8 digits at quality 95 the
    values lie roughly in ``[-410, -380]`` (a single 8x8 JPEG block plus ~380 bytes of headers).
    """
    out: list[float] = []
    for obj in images:
        arr = _as_uint8_image(obj)
        if arr is None:
            out.append(math.nan)
            continue
        try:
            out.append(-float(jpeg_size(arr, quality)))
        except Exception:
            out.append(math.nan)
    return out


class DigitReward:
    """``reward(images) -> list[float]``: ``log p(target | image)`` under the digit classifier.

    Args:
        target: the digit (0..9) whose log-probability is the reward.
        checkpoint: path of a classifier ``state_dict``; default ``checkpoints/digits/classifier.pt``
            (or ``$SVDD_RAY_DIGITS_CHECKPOINTS/classifier.pt``).
        device: where the classifier runs.

    The classifier is loaded once, on construction. Objects must be ``[H, W]`` images matching the
    classifier resolution (8x8) on the 0..255 scale; anything else scores NaN.
    """

    #: the objects it scores (a model of another domain is refused when the config loads)
    reads = "digits"

    def __init__(
        self, target: int = 3, checkpoint: str | os.PathLike | None = None, device: str | torch.device = "cpu"
    ):
        if int(target) != target or not 0 <= int(target) <= 9:
            raise ValueError(f"target must be a digit 0..9, got {target!r}")
        self.target = int(target)
        self.device = torch.device(device)
        self.classifier: DigitClassifier = load_classifier(checkpoint, self.device)
        self.resolution = self.classifier.resolution

    def __repr__(self) -> str:
        return f"DigitReward(target={self.target}, device='{self.device}')"

    def log_prob_tensor(self, x: Tensor) -> Tensor:
        """Differentiable ``log p(target | x)``: ``x [n, 1, H, W]`` in ``[-1, 1]`` -> ``[n]``.

        Gradients flow to ``x`` (the classifier's own parameters are frozen). Inputs at another
        resolution are resampled to 8x8; NaN rows give NaN.
        """
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected [n, 1, H, W], got shape {tuple(x.shape)}")
        logits = self.classifier(x.to(self.device, torch.float32))
        return F.log_softmax(logits, dim=-1)[:, self.target].to(x.device)

    def guide(self, model) -> DigitGuide:
        """A differentiable value ``(x_t, t) -> log p(target | model.predict_x0(x_t, t))`` for ``method="dps"``."""
        return DigitGuide(model, self)

    def log_probs(self, x: Tensor) -> Tensor:
        """All class log-probabilities ``[n, 10]`` for ``x [n, 1, H, W]`` in ``[-1, 1]`` (no grad)."""
        with torch.no_grad():
            return F.log_softmax(self.classifier(x.to(self.device, torch.float32)), dim=-1)

    def __call__(self, images: Sequence[np.ndarray]) -> list[float]:
        images = list(images)
        out = [math.nan] * len(images)
        valid_idx, valid = [], []
        for i, obj in enumerate(images):
            arr = _as_uint8_image(obj)
            if arr is not None and arr.shape == (self.resolution, self.resolution):
                valid_idx.append(i)
                valid.append(arr)
        if valid:
            x = torch.from_numpy(np.stack(valid).astype(np.float32)).unsqueeze(1) / 127.5 - 1.0
            with torch.no_grad():
                values = self.log_prob_tensor(x).cpu().tolist()
            for i, v in zip(valid_idx, values):
                out[i] = float(v)
        return out


class DigitGuide:
    """``value(x_t, t) = log p(target | predict_x0(x_t, t))`` as a tensor (differentiable in ``x_t``).

    Use as the value of ``svdd_ray.sample(model, DigitReward(3).guide(model), method="dps", ...)``;
    at ``t = 0`` it is the classifier log-probability of the (continuous) final state.
    """

    def __init__(self, model, reward: DigitReward):
        self.model = model
        self.reward = reward

    def __call__(self, x: Tensor, t: int) -> Tensor:
        return self.reward.log_prob_tensor(self.model.predict_x0(x, t))


def digit_guide(model, target: int = 3, checkpoint: str | os.PathLike | None = None) -> DigitGuide:
    """Guide factory for the engine's ``value.guide`` (method ``dps``): ``log p(target | x0_hat(x_t))``.

    Called inside each denoiser actor as ``digit_guide(model, **value.guide_options)``; the
    classifier runs on the model's device. Config::

        value: {guide: "svdd_ray.images.rewards:digit_guide", guide_options: {target: 3}}
        run: {method: dps, options: {guidance_scale: 0.3}}
    """
    return DigitGuide(model, DigitReward(target, checkpoint, device=getattr(model, "device", "cpu")))

"""The digits data set (scikit-learn's bundled 8x8 handwritten digits) as diffusion-ready tensors.

Conventions used throughout :mod:`svdd_ray.images`:

* model space: ``float32`` tensors of shape ``[n, 1, H, W]`` with values in ``[-1, 1]``
  (the raw digits hold integers ``0..16``; ``0 -> -1`` is background, ``16 -> +1`` is ink);
* object space (what rewards score): a list of ``uint8`` numpy arrays of shape ``[H, W]``,
  ``-1 -> 0`` and ``+1 -> 255`` (see :func:`to_uint8_images` / :func:`from_uint8_images`).

Resolution: the default is the native 8x8. Upsampling to 16x16 adds no information (the extra
pixels are interpolations), costs about 4x the compute per training and sampling step, and the
classifier / Frechet evaluation would only see the same content again; ``resolution=16`` is kept
as an option (bilinear upsampling) for experiments that want more than one JPEG block per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: Native side length of the scikit-learn digits.
NATIVE_RESOLUTION = 8
#: Maximum raw pixel value in the scikit-learn digits.
RAW_MAX = 16.0


@dataclass(frozen=True)
class DigitsSplit:
    """A fixed train / held-out split. Images are ``[n, 1, R, R]`` floats in ``[-1, 1]``."""

    train_images: Tensor
    train_labels: Tensor
    heldout_images: Tensor
    heldout_labels: Tensor
    seed: int
    heldout_fraction: float

    @property
    def resolution(self) -> int:
        return int(self.train_images.shape[-1])


def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "svdd_ray.images needs scikit-learn for the bundled digits data set: "
            "pip install 'svdd-ray[images]' (or pip install scikit-learn)"
        ) from exc
    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def _resize(x: Tensor, resolution: int) -> Tensor:
    if resolution == x.shape[-1]:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False).clamp(-1.0, 1.0)


def load_digits_tensors(resolution: int = NATIVE_RESOLUTION) -> tuple[Tensor, Tensor]:
    """All 1,797 digits as ``(images [1797, 1, R, R] in [-1, 1], labels [1797] int64)``."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    raw, labels = _load_raw()
    x = torch.from_numpy(raw).unsqueeze(1) / RAW_MAX * 2.0 - 1.0
    return _resize(x, resolution).contiguous(), torch.from_numpy(labels)


def split_indices(n: int, heldout_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation of ``range(n)`` cut into (train, held-out) index arrays (each sorted)."""
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_heldout = int(round(n * heldout_fraction))
    return np.sort(perm[n_heldout:]), np.sort(perm[:n_heldout])


def load_digits_split(resolution: int = NATIVE_RESOLUTION, heldout_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """The digits cut into a fixed train / held-out split (the default: 1,438 / 359 images)."""
    x, y = load_digits_tensors(resolution)
    train_idx, heldout_idx = split_indices(len(x), heldout_fraction, seed)
    tr, ho = torch.from_numpy(train_idx), torch.from_numpy(heldout_idx)
    return DigitsSplit(x[tr], y[tr], x[ho], y[ho], seed, heldout_fraction)


def to_uint8_images(x: Tensor) -> list[np.ndarray]:
    """Model space -> objects: ``[n, 1, H, W]`` (or ``[n, H, W]``) in ``[-1, 1]`` -> ``n`` uint8 ``[H, W]`` arrays.

    Values are clamped to ``[-1, 1]`` and rounded; NaN pixels become 0. This is the ``decoder``
    to hand to :class:`svdd_ray.models.GaussianDiffusion` for the digits.
    """
    x = x.detach().to("cpu", torch.float32)
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"expected [n, 1, H, W] or [n, H, W], got shape {tuple(x.shape)}")
    x = torch.nan_to_num(x, nan=-1.0).clamp(-1.0, 1.0)
    arr = torch.round((x + 1.0) * 127.5).to(torch.uint8).numpy()
    return [a.copy() for a in arr]


def from_uint8_images(images) -> Tensor:
    """Objects -> model space: a list of ``[H, W]`` arrays on the 0..255 scale -> ``[n, 1, H, W]`` in ``[-1, 1]``."""
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images])
    return torch.from_numpy(arr).unsqueeze(1) / 127.5 - 1.0

"""Sample-quality metrics for digit images against held-out digits, and trivial baselines.

* ``mean_max_prob``: the classifier's mean max class probability (is a sample *some* digit?);
* ``frechet``: Frechet distance between Gaussians fitted to the classifier's penultimate
  features of the samples and of the reference (held-out) digits - an "FID" for 8x8 digits;
* ``class_entropy``: entropy (nats) of the predicted-label histogram (log 10 = 2.303 is uniform);
* ``nn_train_l2`` (``_min``): mean (smallest) L2 distance, in [-1, 1] pixel units, to the nearest
  training image - a memorisation check to compare with the held-out digits' own values.

All images are compared in model space ``[n, 1, H, W]`` in ``[-1, 1]``; pass them through
``from_uint8_images(to_uint8_images(x))`` first to measure what the rewards actually see.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .classifier import DigitClassifier


@torch.no_grad()
def classifier_outputs(classifier: DigitClassifier, x: Tensor, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """``(features [n, d], probabilities [n, 10])`` as float64 numpy arrays."""
    classifier.eval()
    device = next(classifier.parameters()).device
    feats, probs = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device, torch.float32)
        f = classifier.features(xb)
        feats.append(f.double().cpu())
        probs.append(F.softmax(classifier.head(f), dim=-1).double().cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`` for two feature sets ``[n, d]``."""
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    cov_a, cov_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def nearest_neighbour_l2(x: Tensor, reference: Tensor, batch_size: int = 512) -> np.ndarray:
    """For each image in ``x`` the L2 distance to its nearest image in ``reference``."""
    ref = reference.flatten(1).double()
    out = []
    for start in range(0, len(x), batch_size):
        out.append(torch.cdist(x[start : start + batch_size].flatten(1).double(), ref).min(dim=1).values)
    return torch.cat(out).numpy()


def sample_quality(
    x: Tensor, classifier: DigitClassifier, reference: Tensor, train: Tensor | None = None
) -> dict[str, float]:
    """Quality of images ``x`` against ``reference`` (held-out) digits; see the module docstring."""
    feats, probs = classifier_outputs(classifier, x)
    ref_feats, _ = classifier_outputs(classifier, reference)
    counts = np.bincount(probs.argmax(1), minlength=probs.shape[1]).astype(np.float64)
    p = counts / counts.sum()
    out = {
        "n": int(len(x)),
        "mean_max_prob": float(probs.max(1).mean()),
        "frechet": frechet_distance(feats, ref_feats),
        "class_entropy": float(-(p[p > 0] * np.log(p[p > 0])).sum()),
    }
    if train is not None:
        nn = nearest_neighbour_l2(x, train)
        out["nn_train_l2"] = float(nn.mean())
        out["nn_train_l2_min"] = float(nn.min())
    return out


def gaussian_noise_baseline(n: int, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """``N(0, 1)`` pixels clipped to ``[-1, 1]``: what an untrained sampler would give."""
    return torch.randn((n, *shape), generator=generator).clamp(-1.0, 1.0)


def marginal_baseline(train: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Each pixel drawn independently from its empirical marginal over the training images."""
    flat = train.flatten(1)
    idx = torch.randint(0, len(train), (n, flat.shape[1]), generator=generator)
    return flat.gather(0, idx).reshape(n, *train.shape[1:])

"""Sample-quality metrics for digit images against held-out digits, and trivial baselines.

* ``mean_max_prob``: the classifier's mean max class probability (is a sample *some* digit?);
* ``frechet``: Frechet distance between Gaussians fitted to the classifier's penultimate
  features of the samples and of the reference (held-out) digits - an "FID" for 8x8 digits;
* ``class_entropy``: entropy (nats) of the predicted-label histogram (log 10 = 2.303 is uniform);
* ``nn_train_l2`` (``_min``): mean (smallest) L2 distance, in [-1, 1] pixel units, to the nearest
  training image - a memorisation check to compare with the held-out digits' own values;
* ``frechet_target`` (:class:`Naturalness` with a target class): Frechet distance to the held-out
  images of that class.

All images are compared in model space ``[n, 1, H, W]`` in ``[-1, 1]``; pass them through
``from_uint8_images(to_uint8_images(x))`` first to measure what the rewards actually see.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from svdd_ray.stats import frechet_distance as gaussian_frechet_distance

from .classifier import DigitClassifier, load_classifier
from .data import load_digits_split


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


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """The Fréchet distance of the Gaussians fitted to two feature sets ``[n, d]``."""
    return gaussian_frechet_distance(
        feats_a.mean(0), np.cov(feats_a, rowvar=False), feats_b.mean(0), np.cov(feats_b, rowvar=False)
    )


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


def distinct_images(images: list[np.ndarray]) -> int:
    """How many different images (byte for byte) are in ``images``."""
    return len({np.ascontiguousarray(im).tobytes() for im in images})


class Naturalness:
    """:func:`sample_quality` under the committed classifier against the held-out digits, plus ``frechet_target``.

    ``frechet_target`` is the Frechet distance to the held-out images of class ``target``.
    """

    def __init__(self, target: int = 3, classifier: DigitClassifier | None = None) -> None:
        self.classifier = classifier if classifier is not None else load_classifier()
        split = load_digits_split()
        self.heldout = split.heldout_images
        self.heldout_target = split.heldout_images[split.heldout_labels == target]
        self.train = split.train_images
        self.train_target = split.train_images[split.train_labels == target]

    def __call__(self, x: Tensor) -> dict[str, float]:
        """The metrics of images ``x`` (model space ``[n, 1, H, W]`` in ``[-1, 1]``)."""
        q = sample_quality(x, self.classifier, self.heldout)
        feats, _ = classifier_outputs(self.classifier, x)
        target_feats, _ = classifier_outputs(self.classifier, self.heldout_target)
        q["frechet_target"] = frechet_distance(feats, target_feats)
        return q

    def floors(self, n: int) -> dict[str, dict[str, float]]:
        """The same metrics for real training digits: ``real`` (n random ones), ``real_target`` (all of the class)."""
        g = torch.Generator().manual_seed(0)
        real = self(self.train[torch.randperm(len(self.train), generator=g)[:n]])
        return {"real": real, "real_target": self(self.train_target)}

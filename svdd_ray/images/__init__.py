"""Images domain: the 8x8 digits prior, digit rewards and a diffusers adapter for real image models.

Needs the ``images`` extra (scikit-learn, Pillow; diffusers only for
:class:`svdd_ray.models.diffusers_adapter.DiffusersModel`)::

    from svdd_ray import sample, pm_value
    from svdd_ray.images import DigitReward, compressibility, load_prior

    model = load_prior()                       # GaussianDiffusion, decode -> uint8 8x8 arrays
    reward = DigitReward(target=3)             # log p(3 | image)
    result = sample(model, pm_value(model, reward), method="svdd", num_samples=16, num_candidates=8)

Submodules (imported lazily, so ``import svdd_ray.images`` is cheap):

* :mod:`~svdd_ray.images.data`: the scikit-learn digits as tensors (``load_digits_split``).
* :mod:`~svdd_ray.images.network`: ``DigitsUNet`` (the prior's network).
* :mod:`~svdd_ray.images.train`: ``DigitsPriorConfig``, ``train_prior``, ``load_prior``, ``evaluate_prior`` (samples,
  metrics; ``experiments.cards.images`` writes the card).
* :mod:`~svdd_ray.images.rewards`: ``DigitReward``, ``compressibility``, ``jpeg_size``.
* :mod:`~svdd_ray.images.metrics`: Frechet distance and sample quality against held-out digits.
* :mod:`~svdd_ray.images.classifier`: ``DigitClassifier`` (reward model and feature extractor).
"""

from __future__ import annotations

from svdd_ray.plugins import lazy_exports

_EXPORTS = {
    "DigitClassifier": "classifier",
    "load_classifier": "classifier",
    "train_classifier": "classifier",
    "DigitsSplit": "data",
    "from_uint8_images": "data",
    "load_digits_split": "data",
    "load_digits_tensors": "data",
    "to_uint8_images": "data",
    "frechet_distance": "metrics",
    "sample_quality": "metrics",
    "evaluate_prior": "train",
    "DigitsUNet": "network",
    "DigitGuide": "rewards",
    "DigitReward": "rewards",
    "compressibility": "rewards",
    "jpeg_size": "rewards",
    "DigitsPriorConfig": "train",
    "build_model": "train",
    "load_prior": "train",
    "train_prior": "train",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)

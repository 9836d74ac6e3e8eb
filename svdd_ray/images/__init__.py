"""Images domain: the 8x8 digits prior, digit rewards and a diffusers adapter for real image models.

Needs the ``images`` extra (scikit-learn, Pillow; diffusers only for
:class:`svdd_ray.models.diffusers_adapter.DiffusersModel`)::

    from svdd_ray import sample, pm_value
    from svdd_ray.images import DigitReward, compressibility, load_prior

    model = load_prior()                       # GaussianDiffusion, decode -> uint8 8x8 arrays
    reward = DigitReward(target=3)             # log p(3 | image)
    result = sample(model, pm_value(model, reward), method="svdd", num_samples=16, num_candidates=8)
"""

from svdd_ray.images.classifier import DigitClassifier, load_classifier, train_classifier
from svdd_ray.images.data import (
    DigitsSplit,
    from_uint8_images,
    load_digits_split,
    load_digits_tensors,
    to_uint8_images,
)
from svdd_ray.images.metrics import frechet_distance, sample_quality
from svdd_ray.images.network import DigitsUNet
from svdd_ray.images.rewards import DigitGuide, DigitReward, compressibility, jpeg_size
from svdd_ray.images.train import build_model, load_prior, train_prior

__all__ = [
    "DigitClassifier",
    "DigitGuide",
    "DigitReward",
    "DigitsSplit",
    "DigitsUNet",
    "build_model",
    "compressibility",
    "frechet_distance",
    "from_uint8_images",
    "jpeg_size",
    "load_classifier",
    "load_digits_split",
    "load_digits_tensors",
    "load_prior",
    "sample_quality",
    "to_uint8_images",
    "train_classifier",
    "train_prior",
]

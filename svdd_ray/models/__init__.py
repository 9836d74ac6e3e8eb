"""Pretrained diffusion models that satisfy :class:`svdd_ray.DiffusionModel`."""

from svdd_ray.models.gaussian import GaussianDiffusion, noise_schedule
from svdd_ray.models.masked import MaskedDiffusion

__all__ = ["GaussianDiffusion", "MaskedDiffusion", "noise_schedule"]

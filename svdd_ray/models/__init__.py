"""Pretrained diffusion models that satisfy :class:`svdd_ray.DiffusionModel`."""

from svdd_ray.models.diffusers_adapter import DiffusersModel
from svdd_ray.models.gaussian import GaussianDiffusion, noise_schedule
from svdd_ray.models.masked import MaskedDiffusion

__all__ = ["DiffusersModel", "GaussianDiffusion", "MaskedDiffusion", "noise_schedule"]

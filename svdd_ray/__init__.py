"""svdd_ray: derivative-free, value-guided sampling from pretrained diffusion models."""

from svdd_ray.inprocess import SampleResult, sample
from svdd_ray.protocol import DiffusionModel, Reward, Value
from svdd_ray.values import pm_value

__version__ = "0.1.0"

__all__ = ["DiffusionModel", "Reward", "SampleResult", "Value", "__version__", "pm_value", "sample"]

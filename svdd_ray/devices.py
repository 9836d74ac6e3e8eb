"""The one device picker: ``auto`` takes a GPU when this process sees one."""

from __future__ import annotations

import torch


def pick_device(requested: str | torch.device, key: str = "device") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; asking for ``cuda`` without a GPU is an error naming ``key``."""
    from svdd_ray.errors import ConfigError

    name = str(requested)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{key}: {name!r} asked for, but this process sees no GPU")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{key}: {name!r} is not a device ('auto', 'cpu', 'cuda' or 'cuda:N')") from None

"""The one device picker: ``auto`` takes a GPU when this process sees one."""

from __future__ import annotations

import os

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


def memory_bytes(device: torch.device) -> int:
    """The memory of ``device``: the GPU's own, or this machine's physical memory for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

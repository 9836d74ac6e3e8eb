"""Domains: what a run's objects are, so reports can show, draw and judge them without guessing.

A run records its domain in ``_manifest.json`` (``model.domain`` in the config: ``molecules``,
``digits``, ``bitstrings``, ``generic`` or ``"pkg.module:Class"``); :func:`load_domain` builds it
through :mod:`svdd_ray.plugins`. A domain subclasses :class:`Domain` and overrides what applies.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svdd_ray import plugins
from svdd_ray.errors import ConfigError


class Domain:
    """How reports read, show, draw and judge one kind of object.

    The defaults fit any object the engine stores (:func:`svdd_ray.engine.output.object_cell`):
    text stays text, PNG bytes become uint8 arrays, JSON lists and mappings are parsed; no sample
    grid, no metrics, no reference set. A subclass sets ``name`` (reports key reference sets by it).
    """

    name: str = "generic"

    def from_cell(self, cell: Any) -> Any:
        """A Parquet ``object`` cell back as an object."""
        if isinstance(cell, (bytes, bytearray)):
            return decode_png(cell)
        if isinstance(cell, str) and cell[:1] in ("[", "{"):
            try:
                return json.loads(cell)
            except json.JSONDecodeError:
                return cell
        return cell

    def display(self, obj: Any) -> str:
        """A short text for tables: text as is, an image as its size, anything else as JSON."""
        if isinstance(obj, str):
            return obj
        if isinstance(obj, np.ndarray):
            return f"<image {'x'.join(str(d) for d in obj.shape)}>"
        return json.dumps(obj, default=str)

    def sample_grid(self, objects: Sequence[Any], path: Path, labels: Sequence[str]) -> Path | None:
        """Draw ``objects`` (each with its label) into a PNG at ``path``; None when the domain has no drawing."""
        return None

    def metrics(self, objects: Sequence[Any], reference: Any = None) -> dict[str, float]:
        """Naturalness metrics of a run's objects; ``reference`` is :meth:`reference`'s set, or None to skip it."""
        return {}

    def reference(self) -> Any:
        """The reference set that :meth:`metrics` compares against (novelty, distances), or None."""
        return None


class TextDomain(Domain):
    """Objects that are plain text (SMILES, bit strings): stored and shown as they are, never parsed as JSON."""

    def from_cell(self, cell: Any) -> Any:
        return cell

    def display(self, obj: Any) -> str:
        return str(obj)


class GenericDomain(Domain):
    """Objects of unknown kind: JSON display, no grid, no metrics."""

    name = "generic"


def load_domain(name: str, key: str = "domain") -> Domain:
    """Build the domain ``name`` (a built-in name or ``"pkg.module:Class"``); ConfigError (one line) otherwise."""
    domain = plugins.build("domain", name, key=key)
    if not isinstance(domain, Domain):
        raise ConfigError(f"{key}: {name!r} built a {type(domain).__name__}, not a svdd_ray.domains.Domain")
    return domain


def domain_name(manifest: dict) -> str:
    """The domain a run recorded: the manifest's ``domain``, else its config's ``model.domain``.

    Runs from before domains were recorded fall back to their built-in model's domain, else ``generic``.
    """
    model = manifest.get("config", {}).get("model", {})
    return (
        manifest.get("domain")
        or model.get("domain")
        or plugins.domain_of_model(model.get("target") or model.get("factory") or "")
    )


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes (as :func:`svdd_ray.engine.output.encode_png` writes them) as a uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))

"""The molecule prior's network: :class:`~svdd_ray.models.transformer.SequenceTransformer` (shared with DNA)."""

from svdd_ray.models.transformer import SequenceTransformer, time_features

__all__ = ["SequenceTransformer", "time_features"]

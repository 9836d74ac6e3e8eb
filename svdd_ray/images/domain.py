"""The digits domain (uint8 8x8 images): how reports decode, draw and judge digit images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svdd_ray.domains import Domain


class DigitsDomain(Domain):
    """uint8 ``[H, W]`` digit images (stored as PNG): tiled grids, naturalness under the committed classifier.

    The reference set is the fixed train / held-out digits split: Frechet distance and classifier
    metrics against the held-out digits, nearest-neighbour distance to the training digits.
    """

    name = "digits"

    def __init__(self) -> None:
        self._classifier = None

    def sample_grid(self, objects: Sequence[np.ndarray], path: Path, labels: Sequence[str]) -> Path:
        from svdd_ray.images.figures import labelled_tiles

        return labelled_tiles(objects, labels, path)

    def metrics(self, objects: Sequence[np.ndarray], reference=None) -> dict[str, float]:
        """``distinct`` images; given the split, :func:`~svdd_ray.images.metrics.sample_quality` as well."""
        from svdd_ray.images.data import from_uint8_images
        from svdd_ray.images.metrics import distinct_images, sample_quality

        out: dict[str, float] = {"distinct": distinct_images(objects)}
        if reference is not None and len(objects):
            if self._classifier is None:
                from svdd_ray.images.classifier import load_classifier

                self._classifier = load_classifier()
            x = from_uint8_images(list(objects))
            quality = sample_quality(x, self._classifier, reference.heldout_images, train=reference.train_images)
            out.update((k, v) for k, v in quality.items() if k != "n")
        return out

    def reference(self):
        """The train / held-out digits split (:func:`svdd_ray.images.data.load_digits_split`).

        None without scikit-learn (the ``images`` extra), which ships the digits: naturalness is skipped.
        """
        from svdd_ray.images.data import load_digits_split

        try:
            return load_digits_split()
        except ImportError:
            return None

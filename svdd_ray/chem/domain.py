"""The molecules domain: SMILES objects, RDKit grids and MOSES metrics for reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from svdd_ray.domains import TextDomain

if TYPE_CHECKING:
    from svdd_ray.chem.metrics import MosesReference


class MoleculeDomain(TextDomain):
    """SMILES strings: shown as text, drawn with RDKit, judged by the MOSES metrics."""

    name = "molecules"
    #: the metrics results tables show beside the reward (keys of :meth:`metrics` with a MOSES reference)
    NATURALNESS = (
        "validity",
        "uniqueness",
        "novelty",
        "internal_diversity",
        "FCD/Test",
        "Filters",
        "sa_median",
        "aromatic",
    )

    def sample_grid(self, objects: Sequence[str], path: Path, labels: Sequence[str]) -> Path | None:
        from rdkit.Chem import Draw

        from svdd_ray.chem.rewards import to_mol

        mols = [to_mol(s) for s in objects]
        image = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200), legends=list(labels))
        image.save(path)
        return path

    def metrics(self, objects: Sequence[str], reference: Iterable[str] | None = None) -> dict[str, float]:
        """Validity, uniqueness, diversity (``internal_diversity``, MOSES ``IntDiv``/``IntDiv2``), ``Filters``,
        ring fractions (``aromatic``, ``macrocycle``) and the median SA score (``sa_median``, 1 easy - 10 hard).

        Given :meth:`reference` (a :class:`~svdd_ray.chem.metrics.MosesReference`), also novelty against
        MOSES train and ``FCD/Test``, ``SNN/Test``, ``Frag/Test``, ``Scaf/Test`` against MOSES test (FCD
        of a few dozen molecules is far above its 10,000-sample value: compare runs of equal size);
        given a plain set of canonical SMILES, novelty against it.
        """
        from svdd_ray.chem import metrics

        if isinstance(reference, metrics.MosesReference):
            out = metrics.evaluate(objects, train=reference.train, test=reference.test)
        else:
            out = metrics.evaluate(objects, train=reference)
        del out["n"]  # the report counts samples itself
        sa = metrics.property_values(objects, ["sa"])["sa"]
        out["sa_median"] = float(np.median(sa)) if len(sa) else math.nan
        return out

    def reference(self) -> MosesReference:
        """MOSES train keys and test statistics, each loaded when first needed (seconds)."""
        from svdd_ray.chem import metrics

        return metrics.MosesReference()

"""The molecules domain: SMILES objects, RDKit grids and MOSES-style metrics for reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from svdd_ray.domains import TextDomain


class MoleculeDomain(TextDomain):
    """SMILES strings: shown as text, drawn with RDKit, judged by validity, uniqueness, diversity and novelty."""

    name = "molecules"

    def sample_grid(self, objects: Sequence[str], path: Path, labels: Sequence[str]) -> Path | None:
        from rdkit.Chem import Draw

        from svdd_ray.chem.rewards import to_mol

        mols = [to_mol(s) for s in objects]
        image = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200), legends=list(labels))
        image.save(path)
        return path

    def metrics(self, objects: Sequence[str], reference: Iterable[str] | None = None) -> dict[str, float]:
        """Validity, uniqueness, internal diversity and, given the train set's canonical SMILES, novelty."""
        from svdd_ray.chem import metrics

        out = metrics.evaluate(objects, train=reference)
        del out["n"]  # the report counts samples itself
        return out

    def reference(self) -> frozenset[str]:
        """Canonical SMILES of the MOSES train set (cached on disk after the first call)."""
        from svdd_ray.chem.metrics import moses_train_canonical

        return moses_train_canonical()

"""Molecules for svdd_ray: MOSES data, SELFIES tokens, rewards, docking, the prior.

Submodules (imported lazily, so ``import svdd_ray.chem`` is cheap):

* :mod:`~svdd_ray.chem.data`: MOSES SMILES from the molsets wheel (``load_smiles``).
* :mod:`~svdd_ray.chem.tokens`: ``SelfiesVocab`` (encode SMILES <-> token ids).
* :mod:`~svdd_ray.chem.rewards`: ``qed``, ``sa``, ``logp``, ``penalized_logp``, ... (SMILES -> float, NaN if invalid).
* :mod:`~svdd_ray.chem.docking`: ``DockingReward`` (AutoDock Vina on dockstring targets).
* :mod:`~svdd_ray.chem.network`: ``SequenceTransformer`` (the prior's network).
* :mod:`~svdd_ray.chem.train`: ``MolPriorConfig``, ``train_prior``, ``load_prior``.
* :mod:`~svdd_ray.chem.metrics`: validity, uniqueness, novelty, diversity, property distances.
* :mod:`~svdd_ray.chem.surrogates`: ``morgan_ridge``, the pre-screening surrogate on Morgan counts.

Needs the ``chem`` extra: rdkit, selfies, scipy, and for docking vina, meeko, gemmi;
molsets and dockstring are installed with ``--no-deps`` (only their data files are used).
"""

from __future__ import annotations

from svdd_ray.plugins import lazy_exports

_EXPORTS = {
    "load_smiles": "data",
    "moses_data_dir": "data",
    "SelfiesVocab": "tokens",
    "DockingReward": "docking",
    "list_targets": "docking",
    "SequenceTransformer": "network",
    "MolPriorConfig": "train",
    "train_prior": "train",
    "load_prior": "train",
    "evaluate": "metrics",
    "canonical_key": "rewards",
    "qed": "rewards",
    "sa": "rewards",
    "logp": "rewards",
    "penalized_logp": "rewards",
    "molecular_weight": "rewards",
    "ring_penalty": "rewards",
    "size_penalty": "rewards",
    "weighted_sum": "rewards",
    "molecule_key": "rewards",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)

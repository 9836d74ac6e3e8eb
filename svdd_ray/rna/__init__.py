"""RNA for svdd_ray: a uniform masked-diffusion prior, ViennaRNA folding rewards, targets, a domain.

Submodules (imported lazily, so ``import svdd_ray.rna`` is cheap):

* :mod:`~svdd_ray.rna.prior`: ``load_prior`` (the ``rna`` model), ``RnaPrior``, ``encode``, ``decode``.
* :mod:`~svdd_ray.rna.rewards`: ``stability`` (-MFE per nt), ``TargetStructure`` (-base-pair distance), ``fold``.
* :mod:`~svdd_ray.rna.targets`: ``TARGETS``, eight dot-bracket targets of 30-80 nt.
* :mod:`~svdd_ray.rna.domain`: ``RnaDomain`` for reports (GC, diversity, uniqueness, MFE statistics).

Needs the ``rna`` extra: ViennaRNA's Python wheel (``pip install viennarna``, module ``RNA``).
"""

from __future__ import annotations

from svdd_ray.plugins import lazy_exports

_EXPORTS = {
    "load_prior": "prior",
    "RnaPrior": "prior",
    "encode": "prior",
    "decode": "prior",
    "stability": "rewards",
    "TargetStructure": "rewards",
    "fold": "rewards",
    "TARGETS": "targets",
    "RnaDomain": "domain",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)

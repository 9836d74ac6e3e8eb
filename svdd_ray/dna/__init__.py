"""Regulatory DNA for svdd_ray: DNase sites of four cell types, the prior, rewards, metrics.

Submodules (imported lazily, so ``import svdd_ray.dna`` is cheap):

* :mod:`~svdd_ray.dna.data`: the 200-bp DNase sites of the ``dnadiffusion`` wheel (``load_sites``), tokens.
* :mod:`~svdd_ray.dna.prior`: the masked-diffusion prior (``DnaPriorConfig``, ``train_prior``, ``load_prior``).
* :mod:`~svdd_ray.dna.classifier`: cell-type classifiers (the guided reward's and the evaluation oracle's).
* :mod:`~svdd_ray.dna.rewards`: ``HepG2Specificity`` (guided), ``HepG2Oracle`` (evaluation only), ``hepg2_guide``.
* :mod:`~svdd_ray.dna.motifs`: JASPAR PWM scanning and the ``LiverMotifs`` reward.
* :mod:`~svdd_ray.dna.metrics`: k-mer spectra, motif frequencies, diversity, homopolymers, GC.
* :mod:`~svdd_ray.dna.domain`: ``DnaDomain`` for reports (a sequence logo of the top designs).
* :mod:`~svdd_ray.dna.value_net`: ``DnaValueNet`` for SVDD-MC (the results job is ``experiments/dna_results.py``).

Needs the ``dnadiffusion`` wheel for data (``pip install --no-deps dnadiffusion==0.0.0.dev0``).
"""

from __future__ import annotations

from svdd_ray.plugins import lazy_exports

_EXPORTS = {
    "load_sites": "data",
    "encode": "data",
    "decode": "data",
    "CELL_TYPES": "data",
    "DnaPriorConfig": "prior",
    "train_prior": "prior",
    "load_prior": "prior",
    "HepG2Specificity": "rewards",
    "HepG2Oracle": "rewards",
    "hepg2_guide": "rewards",
    "LiverMotifs": "motifs",
    "load_motifs": "motifs",
    "scan": "motifs",
    "DnaValueNet": "value_net",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)

"""Experiments on top of svdd_ray: run plans, result tables and write-ups. Not part of the installed library.

* :mod:`experiments.harness`: a plan of (method, seed) runs as config overrides, run or reused; reading them back.
* :mod:`experiments.dna_results`: HepG2 DNA designs judged by a held-out oracle (``jobs/dna_results.py``).
* :mod:`experiments.molecule_front`: QED / SA reward against reward calls per molecule (``jobs/molecule_front.py``).
"""

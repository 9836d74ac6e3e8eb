"""Experiments on top of svdd_ray: run plans, results, write-ups and model cards (not in the installed library).

* :mod:`experiments.harness`: a plan of (method, seed) runs as config overrides, run or reused; reading them back.
* :mod:`experiments.dna_results`: HepG2 DNA designs judged by a held-out oracle (``jobs/dna_results.py``).
* :mod:`experiments.rna_results`: RNA designs against target structures (``jobs/rna_results.py``).
* :mod:`experiments.molecule_front`: QED / SA reward against reward calls per molecule (``jobs/molecule_front.py``).
* :mod:`experiments.molecule_results`: molecule methods at the paper's settings (``jobs/molecule_results.py``).
* :mod:`experiments.docking_results`: PARP1 / JAK2 docking at equal docks (``jobs/docking_results.py``).
* :mod:`experiments.digits_results`, :mod:`experiments.digits_write_up`: the digits tasks and their page.
* :mod:`experiments.cards`: the model cards of the committed checkpoints (``python -m experiments.cards.<domain>``).
* :mod:`experiments.bad_inputs`: the bad inputs ``svdd-ray run`` must refuse in one line (``tests/test_bad_inputs.py``).
"""

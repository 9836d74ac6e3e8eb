#!/usr/bin/env python
"""Molecule fronts: QED and SA against reward calls per molecule (4, 8, 16, 32) on the shipped prior, 3 seeds.

    python jobs/molecule_front.py [--rewards qed sa] [--methods ...] [--seeds 0 1 2] [--samples 64]
        [--runs results/molecules] [--out docs] [--no-run]

Runs go to ``--runs/<reward>`` (a complete run directory is reused, an interrupted one resumes); the
page and plot to ``--out`` (``molecule_front.md``, ``molecule_front.png``). See
:mod:`experiments.molecule_front`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments import molecule_front as front  # noqa: E402
from experiments.harness import run_plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    labels = list(front.FAMILIES)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewards", nargs="+", default=list(front.REWARDS), choices=list(front.REWARDS))
    parser.add_argument("--methods", nargs="+", default=labels, choices=labels, metavar="METHOD")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=64, help="molecules per method and seed")
    parser.add_argument("--runs", type=Path, default=Path("results/molecules"), help="run directories (resume)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-run", action="store_true", help="only report the runs already in --runs")
    parser.add_argument("--no-fcd", action="store_true", help="skip the MOSES reference metrics (FCD, SNN, novelty)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples: must be >= 1")
    plans = {r: front.plan(r, args.runs, args.seeds, args.samples, args.methods) for r in args.rewards}
    surrogates = {}
    for reward, plan in plans.items():
        screened = any("prescreen" in " ".join(plan.methods[m]) for m in plan.labels)
        if screened and not (args.no_run and not front.surrogate_file(reward, args.runs).is_file()):
            surrogates[reward] = front.fit_surrogate(reward, args.runs)
        if not args.no_run:
            run_plan(plan)
    reference = None
    if not args.no_fcd:
        from svdd_ray.chem.metrics import MosesReference

        reference = MosesReference()
    frames = {reward: front.evaluate(plan, reference) for reward, plan in plans.items()}
    command = "python jobs/molecule_front.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    path = front.render(frames, surrogates, plans, args.out, command.strip())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

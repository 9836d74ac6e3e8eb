#!/usr/bin/env python
"""DNA results: pretrained, best-of-N, DPS, SMC and SVDD-PM towards HepG2-specific DNA, judged by an oracle.

    python jobs/dna_results.py [--methods ...] [--seeds 0 1 2] [--samples 86] [--steps 25] [--out docs]

Runs go to ``--runs`` (a complete run directory is reused, so rerunning only adds what is missing);
the table and the trade-off plot to ``--out`` (``docs/dna_results.md``, ``docs/dna_tradeoff.png``).
See :mod:`experiments.dna_results`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments.dna_results import METHODS, DnaPlan, Judge, evaluate_runs, reference_rows, render, run_plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=86, help="designs per method and seed")
    parser.add_argument("--steps", type=int, default=25, help="reverse diffusion steps")
    parser.add_argument(
        "--runs", type=Path, default=Path("results/dna"), help="run directories (committed ones resume)"
    )
    parser.add_argument("--reference-rows", type=int, default=None, help="natural rows judged (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-run", action="store_true", help="only judge the runs already in --runs")
    args = parser.parse_args(argv)
    plan = DnaPlan(args.methods, args.seeds, args.samples, args.steps, runs_dir=args.runs)
    if not args.no_run:
        run_plan(plan)
    judge = Judge()
    command = "python jobs/dna_results.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    references = reference_rows(judge, args.reference_rows)
    path = render(plan, evaluate_runs(plan, judge), references, args.out, command.strip())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

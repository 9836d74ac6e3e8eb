"""Docking tables at equal seeds: methods and value plans against the docking calls they spend.

    python jobs/docking_results.py [--targets PARP1 JAK2] [--samples 64] [--methods pool smc svdd plan ...]
        [--fast-evals 100000] [--out results/docking] [--docs docs/docking_results] [--runs-only | --report-only]

Every method's run goes through ``svdd_ray.engine.run`` from the target's config (seed 0, batches of 8, two
docking actors, no persistent cache); a directory that already holds a complete run is reused and an
interrupted one resumes (the run directories under ``results/docking`` are committed, so ``--report-only``
makes the tables from whatever batches exist without running anything). Writes ``DOCS.md`` and
``DOCS.png``. The methods and costs are described in :mod:`experiments.docking_results`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments import docking_results as docking  # noqa: E402
from experiments.harness import run_plans  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=list(docking.CONFIGS), choices=sorted(docking.CONFIGS))
    parser.add_argument("--methods", nargs="+", default=docking.METHODS, choices=docking.METHODS)
    parser.add_argument("--samples", type=int, default=64, help="final molecules per method")
    parser.add_argument("--fast-evals", type=int, default=100000, help="Vina max_evals of the plan's capped dock")
    parser.add_argument("--cost-sample", type=int, default=8, help="molecules per run timed for the cost per call")
    parser.add_argument("--runs-only", action="store_true", help="make the runs, write no tables")
    parser.add_argument(
        "--report-only", action="store_true", help="tables from the runs as they are (unfinished ones: their batches)"
    )
    parser.add_argument("--out", default=str(ROOT / "results" / "docking"), help="run directories (committed)")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "docking_results"), help="writes DOCS.md and DOCS.png")
    args = parser.parse_args(argv)
    runs, docs = Path(args.out).resolve(), Path(args.docs).resolve()
    os.chdir(ROOT)  # the configs' paths (checkpoints) are relative to the repository root
    plans = {t: docking.plan(t, args.samples, args.fast_evals, runs, args.methods) for t in args.targets}
    if not args.report_only:
        run_plans(list(plans.values()))
    if args.runs_only:
        return 0
    from svdd_ray.chem.metrics import MosesReference

    summaries, sections = {}, []
    for target, plan in plans.items():
        summaries[target], lines = docking.section(plan, target, args.fast_evals, args.cost_sample, MosesReference())
        sections += lines
    print(docking.render(summaries, sections, args.samples, docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

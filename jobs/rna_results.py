"""RNA results: target-structure design and stability on the uniform RNA prior, at equal folding calls.

    python jobs/rna_results.py [--targets NAME ...] [--samples 16] [--m 8] [--workers 2] [--skip-ablation]
        [--runs runs/rna_results] [--out docs/rna_results] [--render-only]

Every target's pool of pretrained sequences, SVDD-PM, SMC, beam, refinement and RNAinverse (equal CPU
time), then stability (50 nt) and a value ablation; runs are spread over ``--workers`` processes and
kept under ``--runs`` (a complete run directory is reused, so rerunning only adds what is missing).
Writes ``OUT.md``, ``OUT.json`` and ``OUT.png``; ``--render-only`` rewrites the page and plot from
``OUT.json``. See :mod:`experiments.rna_results`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments import rna_results as rna  # noqa: E402
from experiments.harness import run_plans  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=list(rna.TARGETS), choices=list(rna.TARGETS))
    parser.add_argument("--samples", type=int, default=16, help="designs per method and target")
    parser.add_argument("--m", type=int, default=8, help="candidates per step (M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--skip-stability", action="store_true")
    parser.add_argument("--runs", type=Path, default=Path("runs/rna_results"), help="run directories (reused)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "rna_results"))
    parser.add_argument("--render-only", action="store_true", help="rewrite OUT.md and OUT.png from OUT.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.render_only:
        rna.write_outputs(json.loads(out.with_suffix(".json").read_text()), out)
        return 0
    began = time.perf_counter()
    names = [*args.targets, *([] if args.skip_stability else ["stability"])]
    plans = [rna.plan(t, args.samples, args.m, args.seed, args.runs, not args.skip_ablation) for t in names]
    print(f"{sum(len(p.labels) for p in plans) + len(args.targets)} runs on {args.workers} workers", flush=True)
    run_plans(plans, workers=args.workers, first=rna.cost)
    rna.run_inverses(plans, args.workers)
    meta = {"seed": args.seed, "workers": args.workers, "wall_s": time.perf_counter() - began}
    record = rna.collect(plans, args.m, **meta, load_average=os.getloadavg()[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, default=float))
    rna.write_outputs(record, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Molecule results in the form of the paper's Table 1: methods at equal M on the MOSES prior.

    python jobs/molecule_results.py [--rewards qed sa docking] [--methods ...] [--samples N] [--m M]

Every run goes through ``svdd_ray.engine.run`` from the reward's config plus dotted overrides; a run
directory that already holds a complete run is reused, so rerunning the script only adds what is missing.
Sizes default per reward (docking is small, ~5 s per molecule per core). ``svdd_mc`` needs the reward's
value network, ``checkpoints/moses/value_<reward>.pt`` (``jobs/train_value.py``). The table is written to
``docs/molecule_results.md``. See :mod:`experiments.molecule_results`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments import molecule_results as mol  # noqa: E402
from experiments.harness import run_plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewards", nargs="+", default=["qed", "sa", "docking"], choices=sorted(mol.CONFIGS))
    parser.add_argument("--methods", nargs="+", default=mol.METHODS, choices=mol.METHODS)
    parser.add_argument("--samples", type=int, help="molecules per method (default: SIZES per reward)")
    parser.add_argument("--m", type=int, help="candidates per step (default: SIZES per reward)")
    parser.add_argument("--smc-alpha", type=float, help="SMC alpha (default: SMC_ALPHA per reward)")
    parser.add_argument("--out", default="runs/molecules")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "molecule_results.md"))
    args = parser.parse_args(argv)
    lines = mol.header(args.rewards[0])
    for reward in args.rewards:
        m = args.m or mol.SIZES[reward][1]
        smc_alpha = args.smc_alpha if args.smc_alpha is not None else mol.SMC_ALPHA[reward]
        plan = mol.plan(reward, Path(args.out), args.samples, m, smc_alpha, args.methods)
        run_plan(plan)
        lines += mol.section(reward, plan, m, smc_alpha, Path(args.docs))
    Path(args.docs).parent.mkdir(parents=True, exist_ok=True)
    Path(args.docs).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

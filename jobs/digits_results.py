"""Steering the 8x8 digits prior: SVDD against its baselines, through the engine, into docs/.

    python jobs/digits_results.py                      # all runs (~25 min on an idle 2-core machine), then docs
    python jobs/digits_results.py --docs-only          # rebuild docs from finished runs

SMC's alpha and DPS's guidance scale are tuned on a separate seed, then every method runs at the same M,
samples, batch size and seed, then SVDD-PM at M = 1 .. 32. A run directory that already holds a complete
run is not run again (its recorded time is kept). The plan is :mod:`experiments.digits_results`; the
write-up is :func:`experiments.digits_write_up.write_results`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments import digits_results as digits  # noqa: E402
from experiments.harness import run_plans, timings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/digits_results", help="where the run directories go")
    parser.add_argument("--docs", default="docs", help="where digits_results.md and the PNGs go")
    parser.add_argument("--num-samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--m", type=int, default=8, help="candidates per step (and N of best-of-N, SMC particles / sample)"
    )
    parser.add_argument("--curve", default="1,2,4,8,16,32", help="M values of the SVDD-PM curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["ray", "local"], help="override the configs' backend")
    parser.add_argument("--value-dir", default="checkpoints/digits", help="where value_<reward>.pt are")
    parser.add_argument("--docs-only", action="store_true", help="do not run anything missing; only rebuild docs")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    os.chdir(ROOT)
    root, docs = Path(args.runs), Path(args.docs)
    root.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    sizes = digits.Sizes(args.num_samples, args.batch_size, args.seed, args.m, args.backend, root, args.value_dir)
    ms = [int(v) for v in args.curve.split(",")]
    began = time.perf_counter()

    def run(plans: list) -> None:
        if not args.docs_only:
            run_plans(plans)

    # 1. Tune SMC's alpha and DPS's scale on a separate seed (one batch of the usual size).
    tuning_plans = {reward: digits.tuning_plan(reward, sizes) for reward in digits.CONFIGS}
    run(list(tuning_plans.values()))
    tuning = {reward: digits.tuned(reward, plan) for reward, plan in tuning_plans.items()}
    smc_alpha = {r: max(g["smc"], key=g["smc"].get) for r, g in tuning.items()}
    dps_scale = max(tuning["digit3"]["dps"], key=tuning["digit3"]["dps"].get)

    # 2. The main comparison at equal M, same seed and sizes; 3. SVDD-PM against M.
    main_plans = {r: digits.main_plan(r, sizes, smc_alpha[r], dps_scale) for r in digits.CONFIGS}
    curve_plans = {r: digits.curve_plan(r, sizes, ms) for r in digits.CONFIGS}
    run([*main_plans.values(), *curve_plans.values()])
    main_runs = {
        r: digits.run_dirs(p, digits.main_names(r, args.m, smc_alpha[r], dps_scale)) for r, p in main_plans.items()
    }
    curve_runs = {r: digits.run_dirs(p, digits.curve_names(r, ms)) for r, p in curve_plans.items()}

    # 4. The write-up: reports, naturalness, figures and docs/digits_results.md.
    from experiments.digits_write_up import DigitsPlan, write_results

    labels, nets = digits.LABELS, digits.VALUE_NETS
    plan = DigitsPlan(digits.TITLES, labels, digits.PAPER_SD_MEDIANS, nets, digits.VALUE_NETWORK, digits.TUNING_SEED)
    settings = {
        "num_samples": args.num_samples,
        "batch_size": args.batch_size,
        "M": args.m,
        "seed": args.seed,
        "smc_alpha": smc_alpha,
        "dps_scale": dps_scale,
        "tuning": tuning,
    }
    total_s = time.perf_counter() - began
    recorded = timings(tuning_plans["digit3"])  # every plan records in the same file, root / "timings.json"
    path = write_results(plan, settings, main_runs, curve_runs, recorded, root, docs, total_s)
    print(f"wrote {path} ({total_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

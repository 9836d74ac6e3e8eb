"""Benchmark: steering the MOSES prior toward drug-likeness (QED), and docking throughput.

Usage::

    python benchmarks/chem_qed.py [--ckpt-dir checkpoints/moses] [--num-samples 32] [--num-candidates 8]
                                  [--docking 0] [--out benchmarks/chem_qed.json]

Runs ``pretrained``, ``best_of_n`` and ``svdd`` (SVDD-PM value, alpha = 0) with the QED reward on
the committed prior and reports mean/median reward, validity, uniqueness, states scored and
wall time. With ``--docking N`` it also docks the first N pretrained samples on PARP1
(exhaustiveness 1) and reports seconds per molecule.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svdd_ray import pm_value, sample  # noqa: E402
from svdd_ray.chem.rewards import qed  # noqa: E402
from svdd_ray.chem.train import load_prior  # noqa: E402


def summarise(objects: list[str], rewards: list[float]) -> dict:
    finite = [r for r in rewards if math.isfinite(r)]
    valid = [s for s in objects if s]
    return {
        "mean_reward": statistics.fmean(finite) if finite else float("nan"),
        "median_reward": statistics.median(finite) if finite else float("nan"),
        "validity": len(valid) / max(len(objects), 1),
        "uniqueness": len(set(valid)) / max(len(valid), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-dir", default="checkpoints/moses")
    parser.add_argument("--num-samples", type=int, default=32)
    parser.add_argument("--num-candidates", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--docking", type=int, default=0, help="dock this many pretrained samples on PARP1")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = load_prior(args.ckpt_dir)
    value = pm_value(model, qed)
    results = {}
    runs = [
        ("pretrained", {}),
        ("best_of_n", {"num_candidates": args.num_candidates}),
        ("svdd", {"num_candidates": args.num_candidates, "alpha": 0.0}),
    ]
    for method, options in runs:
        start = time.time()
        out = sample(model, value, method=method, num_samples=args.num_samples, seed=args.seed, **options)
        seconds = time.time() - start
        row = summarise(out.objects, out.rewards.tolist())
        row.update(value_calls=out.value_calls, seconds=seconds, examples=out.objects[:3])
        results[method] = row
        print(
            f"{method:>10}: QED mean {row['mean_reward']:.3f} median {row['median_reward']:.3f} "
            f"valid {row['validity']:.2f} unique {row['uniqueness']:.2f} "
            f"states scored {row['value_calls']} in {seconds:.1f} s",
            flush=True,
        )

    if args.docking > 0:
        from svdd_ray.chem.docking import DockingReward

        molecules = [
            s for s in sample(model, value, method="pretrained", num_samples=args.docking, seed=args.seed + 1).objects
        ]
        with DockingReward("PARP1", exhaustiveness=1) as dock:
            dock(["CCO"])  # start the worker and compute the maps outside the timing
            start = time.time()
            scores = dock(molecules)
            seconds = time.time() - start
        finite = [s for s in scores if math.isfinite(s)]
        results["docking_parp1"] = {
            "molecules": len(molecules),
            "docked": len(finite),
            "seconds_per_molecule": seconds / max(len(molecules), 1),
            "mean_reward": statistics.fmean(finite) if finite else float("nan"),
        }
        print(
            f"   docking: {len(finite)}/{len(molecules)} docked, "
            f"{results['docking_parp1']['seconds_per_molecule']:.1f} s/molecule, "
            f"mean -affinity {results['docking_parp1']['mean_reward']:.2f} kcal/mol",
            flush=True,
        )

    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

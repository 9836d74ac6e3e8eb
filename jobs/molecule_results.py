"""Molecule results in the form of the paper's Table 1: methods at equal M on the MOSES prior.

    python jobs/molecule_results.py [--rewards qed sa] [--samples 64] [--m 10] [--out runs/molecules]

Every run goes through ``svdd_ray.engine.run`` from ``configs/molecule_<reward>.yaml`` plus
dotted overrides; a run directory that already holds a complete run is reused. The table is
made by ``svdd_ray.report`` (reward median / p90, validity, uniqueness, novelty against the
MOSES train set, internal diversity) and written to ``docs/molecule_results.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from svdd_ray import engine
from svdd_ray.config import load_config
from svdd_ray.report import markdown_table, write_report

REPO = Path(__file__).resolve().parents[1]
#: Medians reported by the paper (GDSS on ZINC250k): pretrained, best-of-N, SVDD.
PAPER = {"qed": (0.656, 0.835, 0.848), "sa": (0.652, 0.834, 0.925), "docking": (7.15, 10.00, 11.40)}


def method_overrides(method: str, m: int, smc_alpha: float) -> list[str]:
    return {
        "pretrained": ["run.method=pretrained", "run.num_candidates=1"],
        "best_of_n": ["run.method=best_of_n", f"run.num_candidates={m}", "run.options={keep: top}"],
        "smc": ["run.method=smc", f"run.num_candidates={m}", f"run.alpha={smc_alpha}"],
        "svdd": ["run.method=svdd", f"run.num_candidates={m}", "run.alpha=0.0"],
    }[method]


def run_once(config_path: Path, out: Path, overrides: list[str]) -> float:
    """Run (or reuse) one configuration; return its wall time in seconds."""
    manifest = out / "_manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete":
        return json.loads(manifest.read_text())["totals"]["wall_time_s"]
    began = time.perf_counter()
    engine.run(load_config(config_path, [*overrides, f"run.output_dir={out}"]))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewards", nargs="+", default=["qed", "sa"])
    parser.add_argument("--methods", nargs="+", default=["pretrained", "best_of_n", "smc", "svdd"])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--smc-alpha", type=float, default=0.1)
    parser.add_argument("--out", default="runs/molecules")
    parser.add_argument("--docs", default=str(REPO / "docs" / "molecule_results.md"))
    args = parser.parse_args()

    from svdd_ray.chem.metrics import moses_train_canonical

    sections = [
        "# Molecules: SVDD and its peers on the MOSES prior",
        "",
        f"Made by `python jobs/molecule_results.py --samples {args.samples} --m {args.m}` "
        f"(each method: {args.samples} molecules, M = {args.m} where a method uses candidates, "
        f"SMC alpha = {args.smc_alpha}, seed 0, 50 reverse steps, embedded local Ray on 2 CPU cores).",
        "Columns come from `svdd-ray report`: reward median / 90th / 99th percentile of valid molecules, "
        "validity, uniqueness, novelty against the MOSES train set and internal diversity (1 - mean "
        "pairwise Tanimoto, Morgan fingerprints).",
    ]
    for reward in args.rewards:
        dirs, walls = [], {}
        for method in args.methods:
            out = Path(args.out) / f"{reward}_{method}"
            walls[method] = run_once(REPO / "configs" / f"molecule_{reward}.yaml", out,
                                     [*method_overrides(method, args.m, args.smc_alpha),
                                      f"run.num_samples={args.samples}"])
            dirs.append(out)
        report_dir = Path(args.out) / f"report_{reward}"
        write_report(dirs, report_dir, reference=moses_train_canonical)
        summary = pd.read_csv(report_dir / "summary.csv")
        summary["wall_time_s"] = [walls[m] for m in summary["method"]]
        cols = ["method", "M", "n", "reward_median", "reward_p90", "reward_p99", "validity", "uniqueness",
                "novelty", "internal_diversity", "reward_calls", "wall_time_s"]
        paper = PAPER.get(reward)
        sections += ["", f"## {reward.upper()}", "", markdown_table(summary[cols]), ""]
        if paper:
            sections.append(f"Paper (GDSS, ZINC250k) medians: pretrained {paper[0]}, best-of-N {paper[1]}, "
                            f"SVDD {paper[2]}.")
        sections.append(f"Full report: `{report_dir}/summary.md`.")
    Path(args.docs).parent.mkdir(parents=True, exist_ok=True)
    Path(args.docs).write_text("\n".join(sections) + "\n")
    print("\n".join(sections))


if __name__ == "__main__":
    main()

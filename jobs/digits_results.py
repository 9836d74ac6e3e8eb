"""Steering the 8x8 digits prior: SVDD against its baselines, through the engine, into docs/.

    python jobs/digits_results.py                      # all runs (~25 min on an idle 2-core machine), then docs
    python jobs/digits_results.py --docs-only          # rebuild docs from finished runs

Every run goes through ``svdd_ray.engine.run`` from ``configs/digits_compressibility.yaml`` or
``configs/digits_classifier.yaml`` plus dotted overrides (``svdd_ray.config.load_config``), on
the backend the configs name (Ray, 1 denoiser actor + 1 reward actor on 1.5 CPUs). For each
reward: ``pretrained``, ``best_of_n`` (``keep=top``, the paper's variant), ``dps`` (digit reward
only; compressibility has no gradient), ``smc``, SVDD-PM and SVDD-MC, all with the same M,
number of samples, batch size and seed. SMC's alpha and DPS's guidance scale are chosen first
on a separate tuning seed (best median reward). Then SVDD-PM at M = 1 .. 32.

This file is the experiment plan: which runs, with what settings. The write-up (tables from
``svdd_ray.report.write_report``, naturalness from ``svdd_ray.images.metrics``, figures from
``svdd_ray.images.figures``, the prose) is ``svdd_ray.images.results.write_results``.
A run directory that already holds a complete run is not run again (its recorded time is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"compressibility": "configs/digits_compressibility.yaml", "digit3": "configs/digits_classifier.yaml"}
TITLES = {"compressibility": "Compressibility (-JPEG bytes)", "digit3": "Digit 3 (log-prob of class 3)"}
VALUE_NETS = {"compressibility": "value_compressibility.pt", "digit3": "value_digit3.pt"}  # in --value-dir
VALUE_NETWORK = "svdd_ray.images.value_net:DigitsValueNet"
GUIDE = "svdd_ray.images.rewards:digit_guide"
#: Table order and labels (the paper's Table 1 columns).
METHODS = ["pretrained", "best_of_n", "dps", "smc", "svdd_mc", "svdd_pm"]
LABELS = {
    "pretrained": "Pre-trained",
    "best_of_n": "Best-of-N",
    "dps": "DPS",
    "smc": "SMC",
    "svdd_mc": "SVDD-MC",
    "svdd_pm": "SVDD-PM",
}
#: Stable Diffusion v1.5, compressibility, median (Li et al. 2024, Table 1).
PAPER_SD_MEDIANS = {"pretrained": -101.4, "best_of_n": -71.2, "dps": -58.5, "smc": -57.1, "svdd_pm": -49.7}
SMC_ALPHAS = {"compressibility": [0.1, 0.25, 0.5, 1.0, 2.0, 4.0], "digit3": [0.03, 0.1, 0.3, 1.0, 3.0]}
DPS_SCALES = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
TUNING_SEED = 1000


@dataclass
class Spec:
    """One engine run: a reward's config plus overrides."""

    name: str
    reward: str
    method: str  # key of METHODS (svdd_pm / svdd_mc distinguish the value)
    overrides: list[str] = field(default_factory=list)


def method_overrides(
    reward: str, method: str, m: int, smc_alpha: float, dps_scale: float, value_dir: str = "checkpoints/digits"
) -> list[str]:
    if method == "pretrained":
        return ["run.method=pretrained", "run.num_candidates=1"]
    if method == "best_of_n":
        return ["run.method=best_of_n", f"run.num_candidates={m}", "run.options={keep: top}"]
    if method == "smc":
        return ["run.method=smc", f"run.num_candidates={m}", f"run.alpha={smc_alpha}"]
    if method == "svdd_pm":
        return ["run.method=svdd", f"run.num_candidates={m}", "run.alpha=0.0"]
    if method == "svdd_mc":
        return [
            "run.method=svdd",
            f"run.num_candidates={m}",
            "run.alpha=0.0",
            "value.kind=mc",
            f"value.network.target={VALUE_NETWORK}",
            f"value.checkpoint={Path(value_dir) / VALUE_NETS[reward]}",
        ]
    if method == "dps":
        return [
            "run.method=dps",
            "run.num_candidates=1",
            f"value.guide.target={GUIDE}",
            "value.guide.options={target: 3}",
            f"run.options={{guidance_scale: {dps_scale}}}",
        ]
    raise ValueError(method)


class Runner:
    """Runs specs through the engine once each and remembers their wall times."""

    def __init__(self, root: Path, num_samples: int, batch_size: int, seed: int, backend: str | None) -> None:
        self.root = root
        self.num_samples, self.batch_size, self.seed, self.backend = num_samples, batch_size, seed, backend
        self.timings_path = root / "timings.json"
        self.timings = json.loads(self.timings_path.read_text()) if self.timings_path.is_file() else {}

    def run(self, spec: Spec, *, num_samples: int | None = None, seed: int | None = None) -> Path:
        from svdd_ray import engine
        from svdd_ray.config import load_config

        out = self.root / spec.name
        manifest = out / "_manifest.json"
        if manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete":
            return out
        overrides = [
            f"run.num_samples={num_samples or self.num_samples}",
            f"run.batch_size={self.batch_size}",
            f"run.seed={self.seed if seed is None else seed}",
            f"run.output_dir={out}",
            *spec.overrides,
        ]
        if self.backend:
            overrides.append(f"resources.backend={self.backend}")
        config = load_config(REPO / CONFIGS[spec.reward], overrides)
        began = time.perf_counter()
        _, totals = engine.run(config)
        wall = time.perf_counter() - began
        self.timings[spec.name] = {
            "wall_s": wall,
            "driver_wall_s": totals["wall_time_s"],
            "load_avg_1m": os.getloadavg()[0],  # the machine is shared: how busy it was
            "overrides": overrides,
        }
        self.timings_path.write_text(json.dumps(self.timings, indent=2))
        print(f"{spec.name}: {wall:.1f} s", flush=True)
        return out


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
    torch.set_num_threads(1)
    os.chdir(REPO)
    root, docs = Path(args.runs), Path(args.docs)
    root.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    runner = Runner(root, args.num_samples, args.batch_size, args.seed, args.backend)
    ms = [int(v) for v in args.curve.split(",")]
    began = time.perf_counter()

    def run(spec: Spec, **kw) -> Path:
        if args.docs_only:
            return root / spec.name
        return runner.run(spec, **kw)

    # 1. Tune SMC's alpha and DPS's scale on a separate seed (one batch of the usual size).
    tuning: dict[str, dict] = {}
    for reward in CONFIGS:
        grid = {}
        for a in SMC_ALPHAS[reward]:
            spec = Spec(f"tune-{reward}-smc-a{a}", reward, "smc", method_overrides(reward, "smc", args.m, a, 0.0))
            d = run(spec, num_samples=args.batch_size, seed=TUNING_SEED)
            grid[a] = float(pd.read_parquet(d)["reward"].median())
        tuning.setdefault(reward, {})["smc"] = grid
    dps_grid = {}
    for s in DPS_SCALES:
        spec = Spec(f"tune-digit3-dps-s{s}", "digit3", "dps", method_overrides("digit3", "dps", 1, 0.0, s))
        dps_grid[s] = float(
            pd.read_parquet(run(spec, num_samples=args.batch_size, seed=TUNING_SEED))["reward"].median()
        )
    tuning["digit3"]["dps"] = dps_grid
    smc_alpha = {r: max(g["smc"], key=g["smc"].get) for r, g in tuning.items()}
    dps_scale = max(dps_grid, key=dps_grid.get)

    # 2. The main comparison at equal M, same seed and sizes.
    main_runs: dict[str, dict[str, Path]] = {}
    for reward in CONFIGS:
        main_runs[reward] = {}
        for method in METHODS:
            if method == "dps" and reward != "digit3":
                continue
            m = args.m if method not in ("pretrained", "dps") else 1
            ov = method_overrides(reward, method, args.m, smc_alpha[reward], dps_scale, args.value_dir)
            tuned = {"smc": f"-a{smc_alpha[reward]}", "dps": f"-s{dps_scale}"}.get(method, "")
            main_runs[reward][method] = run(Spec(f"{reward}-{method}-M{m}{tuned}", reward, method, ov))

    # 3. SVDD-PM against M (the M = args.m point is the main run).
    curve_runs: dict[str, dict[int, Path]] = {}
    for reward in CONFIGS:
        curve_runs[reward] = {
            m: run(Spec(f"{reward}-svdd_pm-M{m}", reward, "svdd_pm", method_overrides(reward, "svdd_pm", m, 0, 0)))
            for m in ms
        }

    # 4. The write-up: reports, naturalness, figures and docs/digits_results.md.
    from svdd_ray.images.results import DigitsPlan, write_results

    plan = DigitsPlan(TITLES, LABELS, PAPER_SD_MEDIANS, VALUE_NETS, VALUE_NETWORK, TUNING_SEED)
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
    path = write_results(plan, settings, main_runs, curve_runs, runner.timings, root, docs, total_s)
    print(f"wrote {path} ({total_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

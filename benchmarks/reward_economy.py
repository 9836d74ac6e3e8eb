"""The reward-vs-calls Pareto front on QED: best-of-N, SVDD-PM, SMC and selection plans, same seeds.

Every point is an engine run (local backend, the run-wide reward cache on) of the prior that
``configs/molecule_qed.yaml`` names (or ``--model`` with ``--model-options``), ``--samples``
molecules per point. Best-of-N for
N = 1..16 is read from one pool of pretrained molecules (the first N of each group of 16, so
the N's are nested, as the same seeds would give). Reward calls are counted after the cache,
per final molecule. Writes ``OUT.md``, ``OUT.json`` and ``OUT.png``.

    python benchmarks/reward_economy.py [--samples 256] [--workers 2] [--out docs/reward_economy]
        [--model moses --model-options "{num_steps: 16}"] [--runs runs/reward_economy]

The runs are an ``experiments.harness`` plan: each point's overrides (``methods``) make the run directory
``RUNS/<point>_seed0`` (``--runs``, default a new temporary directory); a complete one is reused with the
times recorded when it was made (``RUNS/timings.json``), so a second call with the same runs directory only
remakes the page. A runs directory holding runs of other arguments is refused.

Points named "prescreen" score only the share of candidates that an online ridge surrogate on
Morgan counts ranks best (``reward.components[0].prescreen``); the rest take its prediction.
Points "best-of-N, QED of the top k" score only the top k of each chain's N pretrained molecules
by a ridge fitted offline (frozen, ``final: true``) on ``SURROGATE_POOL`` pretrained molecules of
another seed; those one-off training calls are reported beside the table, not in the points.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the experiments layer, from a checkout

from experiments import harness  # noqa: E402
from experiments.harness import Plan, best_of_pool, calls_per_sample  # noqa: E402
from svdd_ray.report import load_run  # noqa: E402

CONFIG = REPO / "configs" / "molecule_qed.yaml"
COMMON = ["run.batch_size=64", "run.alpha=0.0", "run.trace=false"]
PRESCREEN = "reward.components.0.prescreen={surrogate: morgan_ridge, keep: %s, explore: 0.1, min_scored: 32}"
FROZEN = (
    "reward.components.0.prescreen={surrogate: {target: morgan_ridge, options: {weights: '%s'}}, "
    "keep: %s, explore: 0.0, min_scored: 0, final: true}"
)
PRETRAINED = ["run.method=pretrained", "run.num_candidates=1"]
SURROGATE_POOL, SURROGATE_SEED = 512, 1
BON = (1, 2, 4, 8, 16)


def svdd(m: int, options: str = "", *extra: str) -> list[str]:
    """SVDD-PM with ``m`` candidates, its ``run.options`` (YAML) and further overrides."""
    return ["run.method=svdd", f"run.num_candidates={m}", *([f"run.options={options}"] if options else []), *extra]


def frozen(n: int, keep: float, weights: Path) -> list[str]:
    """Best-of-``n`` scoring only the share ``keep`` that the frozen ridge in ``weights`` ranks best."""
    return ["run.method=best_of_n", f"run.num_candidates={n}", FROZEN % (weights, keep)]


def methods(weights: Path) -> dict[str, list[str]]:
    """Point -> overrides; best-of-N is read from "pool", the frozen points rank by the ridge in ``weights``."""
    return {
        "pool": PRETRAINED,
        "SVDD-PM M=2": svdd(2),
        "SVDD-PM M=4": svdd(4),
        "SVDD-PM M=8": svdd(8),
        "SMC M=4": ["run.method=smc", "run.num_candidates=4", "run.alpha=0.1"],
        "SVDD-PM M=4, every 2": svdd(4, "{select_every: 2}"),
        "SVDD-PM M=4, every 4": svdd(4, "{select_every: 4}"),
        "SVDD-PM M=8, every 4": svdd(8, "{select_every: 4}"),
        "SVDD-PM M=4, last 50%": svdd(4, "{select_steps: [0.5, 1.0]}"),
        "SVDD-PM M=8, last 50%, every 2": svdd(8, "{select_steps: [0.5, 1.0], select_every: 2}"),
        "SVDD-PM M=8, prescreen 25%": svdd(8, "", PRESCREEN % 0.25),
        "SVDD-PM M=16, prescreen 12.5%": svdd(16, "", PRESCREEN % 0.125),
        "SVDD-PM M=8, prescreen 25%, every 2": svdd(8, "{select_every: 2}", PRESCREEN % 0.25),
        "best-of-16, QED of the top 4": frozen(16, 0.25, weights),
        "best-of-32, QED of the top 4": frozen(32, 0.125, weights),
    }


def plans(runs: Path, samples: int, model: Sequence[str]) -> tuple[Plan, Plan]:
    """The frozen surrogate's training pool (seed ``SURROGATE_SEED``) and the points (seed 0), under ``runs``."""
    common, timings = [*COMMON, *model], runs / "timings.json"
    pool = Plan(CONFIG, {"surrogate pool": PRETRAINED}, [SURROGATE_SEED], SURROGATE_POOL, runs, common, timings=timings)
    sizes = {"pool": samples * max(BON)}
    points = Plan(CONFIG, methods(weights_file(runs)), [0], samples, runs, common, sizes=sizes, timings=timings)
    return pool, points


def weights_file(runs: Path) -> Path:
    return runs / "qed_morgan_ridge.npz"


def cost(plan: Plan, method: str) -> float:
    """Samples times candidates: the larger runs start first."""
    m = next(int(o.split("=")[1]) for o in plan.methods[method] if o.startswith("run.num_candidates="))
    return plan.sizes.get(method, plan.samples) * m


def run_or_reuse(plan: Plan, workers: int) -> None:
    """Run the plan's points without a complete run directory; refuse a directory of other arguments."""
    stale = harness.stale(plan)
    if stale:
        print(f"{stale[0]}: a run of other arguments (--samples, --model); use another --runs", file=sys.stderr)
        raise SystemExit(2)
    harness.run_plans([plan], workers=workers, first=cost)


def frozen_surrogate(plan: Plan) -> str:
    """Fit the frozen ridge of the "QED of the top k" points on the pretrained pool of ``plan`` (another seed)
    into :func:`weights_file`; a line on what it cost."""
    from scipy.stats import spearmanr

    from svdd_ray.chem.surrogates import morgan_ridge
    from svdd_ray.surrogates import save_surrogate

    run = load_run(plan.run_dir("surrogate pool", SURROGATE_SEED))
    objects, rewards = run.samples["object"].tolist(), run.samples["reward"].to_numpy(dtype=float)
    half = len(objects) // 2
    check = morgan_ridge()
    check.fit(objects[:half], rewards[:half])
    rho = spearmanr(check.predict(objects[half:]), rewards[half:], nan_policy="omit").statistic
    ridge = morgan_ridge()
    ridge.fit(objects, rewards)
    save_surrogate(ridge.frozen(), weights_file(Path(plan.runs_dir)), radius=2, n_bits=2048)
    calls = round(calls_per_sample([run]) * len(objects))
    return (
        f'The frozen surrogate of the "QED of the top k" points: a ridge on Morgan counts fitted on '
        f"{len(objects)} pretrained molecules of seed {SURROGATE_SEED} ({calls} one-off QED calls, "
        f"not in the points; Spearman {rho:.2f} on a held-out half)."
    )


def seconds(plan: Plan, method: str) -> tuple[float, float]:
    """Wall and CPU seconds of the point's run as recorded when it was made (else the manifest's wall time)."""
    path = plan.run_dir(method, 0)
    made = harness.timings(plan).get(path.name, {})
    return made.get("wall_s", harness.totals(path).get("wall_time_s", math.nan)), made.get("cpu_s", math.nan)


def row(name: str, chosen: pd.DataFrame, calls: float, wall: float, cpu: float) -> dict:
    """A point's line: reward median and p90, reward calls, unique share, wall and CPU seconds per molecule."""
    n, rewards = len(chosen), chosen["reward"].to_numpy(dtype=float)
    return {
        "method": name,
        "n": n,
        "median": float(np.nanmedian(rewards)),
        "p90": float(np.nanquantile(rewards, 0.9)),
        "reward_calls_per_molecule": calls,
        "unique": len(set(chosen["object"])) / n,
        "wall_s_per_molecule": wall / n,
        "cpu_s_per_molecule": cpu / n,
    }


def best_of_n(plan: Plan) -> list[dict]:
    """Best-of-N from the pool: the first N of each group of 16 pretrained molecules; its times pro rata."""
    pool, (wall, cpu) = load_run(plan.run_dir("pool", 0)).samples, seconds(plan, "pool")
    rows = []
    for n in BON:
        chosen, calls = best_of_pool(pool, max(BON), n)
        rows.append(row(f"best-of-{n}", chosen, calls, wall * n / max(BON), cpu * n / max(BON)))
    return rows


def point_row(plan: Plan, name: str) -> dict:
    run = load_run(plan.run_dir(name, 0))
    return row(name, run.samples, calls_per_sample([run]), *seconds(plan, name))


def collect(plan: Plan) -> pd.DataFrame:
    """The table: best-of-N, then every other point in the plan's order."""
    return pd.DataFrame(best_of_n(plan) + [point_row(plan, name) for name in plan.labels if name != "pool"])


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for family, marker in (("best-of", "o"), ("SVDD-PM M=", "s"), ("SMC", "^"), (",", "D")):
        part = frame[frame.method.str.contains(family, regex=False)]
        if family != ",":  # the plans (named "..., ...") are markers of their own
            part = part[~part.method.str.contains(",")]
        ax.plot(part.reward_calls_per_molecule, part["median"], marker=marker, linestyle="-" if family != "," else "")
        for _, r in part.iterrows():
            ax.annotate(
                r.method,
                (r.reward_calls_per_molecule, r["median"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel("reward calls per final molecule (after the cache, log scale)")
    ax.set_ylabel("median QED of the final molecules")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def shown(path: str) -> str:
    """``path`` as the remake command gives it: relative to the repository root where inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def remake_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that remakes the page, to paste in the repository root: quoted, paths relative to the root."""
    parts = []
    for flag in ("--samples", "--workers", "--model", "--model-options", "--runs"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and value != parser.get_default(flag[2:].replace("-", "_")):
            parts += [flag, shown(value) if flag == "--runs" else str(value)]
    parts += ["--out", shown(args.out)]
    return "python benchmarks/reward_economy.py " + shlex.join(parts)


def describe(args: argparse.Namespace, model: list[str], began: float, training: str) -> str:
    """The line under the title: sizes, prior, machine and the frozen surrogate's cost."""
    from svdd_ray.config import load_config
    from svdd_ray.engine.runner import build_model

    config = load_config(CONFIG, model)
    spec, steps = config.model, build_model(config).num_steps
    return (
        f"{args.samples} molecules per point, prior `{spec.target}` {spec.options}, {steps} reverse steps, QED reward, "
        f"seed 0, engine local backend with the run-wide cache; {args.workers} runs at a time on 2 cores "
        f"(load average {os.getloadavg()[0]:.1f} at the end); total {time.perf_counter() - began:.0f} s. {training}"
    )


def write_outputs(frame: pd.DataFrame, out: Path, note: str, command: str) -> None:
    """``OUT.json``, ``OUT.png`` and ``OUT.md`` (the table is printed too)."""
    frame.to_json(out.with_suffix(".json"), orient="records", indent=1)
    plot(frame, out.with_suffix(".png"))
    headers = ["method", "median QED", "p90 QED", "reward calls / molecule", "unique", "wall s / mol", "CPU s / mol"]
    columns = ["method", "median", "p90", "reward_calls_per_molecule", "unique", "wall_s_per_molecule"]
    text = table(headers, frame[[*columns, "cpu_s_per_molecule"]].values.tolist())
    print(note)
    print(text)
    out.with_suffix(".md").write_text(
        "# Reward calls against reward: QED\n\n"
        f"Made by `{command}`. " + note + "\n\n" + text + "\n\n"
        f"![reward vs calls]({out.with_suffix('.png').name})\n"
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", help="model.target instead of the config's")
    parser.add_argument("--model-options", help="model.options (YAML) instead of the config's")
    parser.add_argument("--out", default=str(REPO / "docs" / "reward_economy"))
    parser.add_argument("--runs", help="run directories, reused when complete (default: a new temporary directory)")
    return parser


def main() -> None:
    options = parser()
    args = options.parse_args()
    began = time.perf_counter()
    torch.set_num_threads(1)  # the surrogate's pool runs in this process; the points' workers use one thread each
    model = [f"model.target={args.model}"] if args.model else []
    model += [f"model.options={args.model_options}"] if args.model_options else []
    runs = Path(args.runs or tempfile.mkdtemp(prefix="svdd-pareto-")).resolve()
    surrogate_pool, points = plans(runs, args.samples, model)
    run_or_reuse(surrogate_pool, 1)
    training = frozen_surrogate(surrogate_pool)
    run_or_reuse(points, args.workers)
    frame = collect(points)
    write_outputs(frame, Path(args.out), describe(args, model, began, training), remake_command(options, args))


if __name__ == "__main__":
    main()

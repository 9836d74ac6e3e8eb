"""The reward-vs-calls Pareto front on QED: best-of-N, SVDD-PM, SMC and selection plans, same seeds.

Every point is an engine run (local backend, the run-wide reward cache on) of the prior that
``configs/molecule_qed.yaml`` names (or ``--model`` with ``--model-options``), ``--samples``
molecules per point. Best-of-N for
N = 1..16 is read from one pool of pretrained molecules (the first N of each group of 16, so
the N's are nested, as the same seeds would give). Reward calls are counted after the cache,
per final molecule. Writes ``OUT.md``, ``OUT.json`` and ``OUT.png``.

    python benchmarks/reward_economy.py [--samples 256] [--workers 2] [--out docs/reward_economy]
        [--model moses --model-options "{num_steps: 16}"]

Points named "prescreen" score only the share of candidates that an online ridge surrogate on
Morgan counts ranks best (``reward.components[0].prescreen``); the rest take its prediction.
Points "best-of-N, QED of the top k" score only the top k of each chain's N pretrained molecules
by a ridge fitted offline (frozen, ``final: true``) on ``SURROGATE_POOL`` pretrained molecules of
another seed; those one-off training calls are reported beside the table, not in the points.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import table

REPO = Path(__file__).resolve().parents[1]

PRESCREEN = "reward.components.0.prescreen={surrogate: morgan_ridge, keep: %s, explore: 0.1, min_scored: 32}"
WEIGHTS = "@WEIGHTS@"  # replaced by the frozen surrogate's file, fitted in main()
FROZEN = (
    "reward.components.0.prescreen={surrogate: {target: morgan_ridge, options: {weights: '%s'}}, "
    "keep: %s, explore: 0.0, min_scored: 0, final: true}"
)
SURROGATE_POOL, SURROGATE_SEED = 512, 1

#: name -> (method, M, alpha, options[, extra config overrides]); best-of-N comes from the "pool" run.
POINTS = {
    "pool": ("pretrained", 1, 0.0, {}),
    "SVDD-PM M=2": ("svdd", 2, 0.0, {}),
    "SVDD-PM M=4": ("svdd", 4, 0.0, {}),
    "SVDD-PM M=8": ("svdd", 8, 0.0, {}),
    "SMC M=4": ("smc", 4, 0.1, {}),
    "SVDD-PM M=4, every 2": ("svdd", 4, 0.0, {"select_every": 2}),
    "SVDD-PM M=4, every 4": ("svdd", 4, 0.0, {"select_every": 4}),
    "SVDD-PM M=8, every 4": ("svdd", 8, 0.0, {"select_every": 4}),
    "SVDD-PM M=4, last 50%": ("svdd", 4, 0.0, {"select_steps": [0.5, 1.0]}),
    "SVDD-PM M=8, last 50%, every 2": ("svdd", 8, 0.0, {"select_steps": [0.5, 1.0], "select_every": 2}),
    "SVDD-PM M=8, prescreen 25%": ("svdd", 8, 0.0, {}, [PRESCREEN % 0.25]),
    "SVDD-PM M=16, prescreen 12.5%": ("svdd", 16, 0.0, {}, [PRESCREEN % 0.125]),
    "SVDD-PM M=8, prescreen 25%, every 2": ("svdd", 8, 0.0, {"select_every": 2}, [PRESCREEN % 0.25]),
    "best-of-16, QED of the top 4": ("best_of_n", 16, 0.0, {}, [FROZEN % (WEIGHTS, 0.25)]),
    "best-of-32, QED of the top 4": ("best_of_n", 32, 0.0, {}, [FROZEN % (WEIGHTS, 0.125)]),
}
BON = (1, 2, 4, 8, 16)


def run_point(name: str, samples: int, model: list[str], weights: str = "") -> dict:
    """One engine run; its samples, reward calls, wall and CPU seconds (``weights``: the frozen surrogate)."""
    torch.set_num_threads(1)
    from svdd_ray import engine
    from svdd_ray.config import load_config
    from svdd_ray.report import load_run

    if name == "surrogate pool":
        method, m, alpha, options, extra = "pretrained", 1, 0.0, {}, [[f"run.seed={SURROGATE_SEED}"]]
    else:
        method, m, alpha, options, *extra = POINTS[name]
    n = {"pool": samples * max(BON), "surrogate pool": SURROGATE_POOL}.get(name, samples)
    out = Path(tempfile.mkdtemp(prefix="svdd-pareto-")) / "run"
    overrides = [
        f"run.method={method}",
        f"run.num_samples={n}",
        "run.batch_size=64",
        f"run.num_candidates={m}",
        f"run.alpha={alpha}",
        f"run.options={json.dumps(options)}",
        f"run.output_dir={out}",
        "run.trace=false",
        "resources.backend=local",
        *model,
        *[o.replace(WEIGHTS, weights) for o in (extra[0] if extra else [])],
    ]
    config = load_config(REPO / "configs" / "molecule_qed.yaml", overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    _, totals = engine.run(config)
    frame = load_run(out).samples
    return {
        "name": name,
        "objects": frame["object"].tolist(),
        "rewards": frame["reward"].tolist(),
        "reward_calls": totals["reward_calls"],
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }


def row(name: str, rewards: np.ndarray, objects: list[str], calls: float, wall: float, cpu: float, n: int) -> dict:
    return {
        "method": name,
        "n": n,
        "median": float(np.nanmedian(rewards)),
        "p90": float(np.nanquantile(rewards, 0.9)),
        "reward_calls_per_molecule": calls / n,
        "unique": len(set(objects)) / n,
        "wall_s_per_molecule": wall / n,
        "cpu_s_per_molecule": cpu / n,
    }


def best_of_n(pool: dict, samples: int) -> list[dict]:
    """Best-of-N from the pool: the first N of each group of 16 pretrained molecules."""
    rewards = np.asarray(pool["rewards"], dtype=float).reshape(samples, max(BON))
    objects = np.asarray(pool["objects"], dtype=object).reshape(samples, max(BON))
    rows = []
    for n in BON:
        best = np.nanargmax(np.where(np.isfinite(rewards[:, :n]), rewards[:, :n], -np.inf), axis=1)
        chosen = rewards[np.arange(samples), best]
        calls = len(set(objects[:, :n].ravel()))  # one call per distinct molecule: the run-wide cache
        share = n / max(BON)
        rows.append(
            row(
                f"best-of-{n}",
                chosen,
                list(objects[np.arange(samples), best]),
                calls,
                pool["wall_s"] * share,
                pool["cpu_s"] * share,
                samples,
            )
        )
    return rows


def frozen_surrogate(model: list[str]) -> tuple[str, str]:
    """Fit the frozen ridge of the "QED of the top k" points on a pretrained pool of another seed; its file
    and a line on what it cost."""
    from scipy.stats import spearmanr

    from svdd_ray.chem.surrogates import morgan_ridge
    from svdd_ray.surrogates import save_surrogate

    pool = run_point("surrogate pool", 0, model)
    objects, rewards = pool["objects"], np.asarray(pool["rewards"], dtype=float)
    half = len(objects) // 2
    check = morgan_ridge()
    check.fit(objects[:half], rewards[:half])
    rho = spearmanr(check.predict(objects[half:]), rewards[half:], nan_policy="omit").statistic
    ridge = morgan_ridge()
    ridge.fit(objects, rewards)
    path = Path(tempfile.mkdtemp(prefix="svdd-surrogate-")) / "qed_morgan_ridge.npz"
    save_surrogate(ridge.frozen(), path, radius=2, n_bits=2048)
    line = (
        f'The frozen surrogate of the "QED of the top k" points: a ridge on Morgan counts fitted on '
        f"{len(objects)} pretrained molecules of seed {SURROGATE_SEED} ({pool['reward_calls']} one-off QED calls, "
        f"not in the points; Spearman {rho:.2f} on a held-out half)."
    )
    return str(path), line


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


def remake_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that remakes the page, to paste in the repository root: quoted, ``--out`` relative to the root."""
    parts = []
    for flag in ("--samples", "--workers", "--model", "--model-options"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and value != parser.get_default(flag[2:].replace("-", "_")):
            parts += [flag, str(value)]
    out = Path(args.out).resolve()
    parts += ["--out", str(out.relative_to(REPO) if out.is_relative_to(REPO) else out)]
    return "python benchmarks/reward_economy.py " + shlex.join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", help="model.target instead of the config's")
    parser.add_argument("--model-options", help="model.options (YAML) instead of the config's")
    parser.add_argument("--out", default=str(REPO / "docs" / "reward_economy"))
    args = parser.parse_args()
    began = time.perf_counter()
    model = [f"model.target={args.model}"] if args.model else []
    model += [f"model.options={args.model_options}"] if args.model_options else []
    weights, training = frozen_surrogate(model)
    with ProcessPoolExecutor(args.workers) as pool:
        n = len(POINTS)
        results = list(pool.map(run_point, POINTS, [args.samples] * n, [model] * n, [weights] * n))
    by_name = {r["name"]: r for r in results}
    rows = best_of_n(by_name.pop("pool"), args.samples)
    for name, r in by_name.items():
        rows.append(
            row(
                name,
                np.asarray(r["rewards"], float),
                r["objects"],
                r["reward_calls"],
                r["wall_s"],
                r["cpu_s"],
                args.samples,
            )
        )
    frame = pd.DataFrame(rows)
    out = Path(args.out)
    frame.to_json(out.with_suffix(".json"), orient="records", indent=1)
    plot(frame, out.with_suffix(".png"))
    headers = ["method", "median QED", "p90 QED", "reward calls / molecule", "unique", "wall s / mol", "CPU s / mol"]
    columns = ["method", "median", "p90", "reward_calls_per_molecule", "unique", "wall_s_per_molecule"]
    cells = frame[[*columns, "cpu_s_per_molecule"]].values.tolist()
    text = table(headers, cells)
    load = os.getloadavg()[0]
    from svdd_ray.config import load_config
    from svdd_ray.engine.runner import build_model

    config = load_config(REPO / "configs" / "molecule_qed.yaml", model)
    spec, steps = config.model, build_model(config).num_steps
    note = (
        f"{args.samples} molecules per point, prior `{spec.target}` {spec.options}, {steps} reverse steps, QED reward, "
        f"seed 0, engine local backend with the run-wide cache; {args.workers} runs at a time on 2 cores "
        f"(load average {load:.1f} at the end); total {time.perf_counter() - began:.0f} s. {training}"
    )
    print(note)
    print(text)
    out.with_suffix(".md").write_text(
        "# Reward calls against reward: QED\n\n"
        f"Made by `{remake_command(parser, args)}`. " + note + "\n\n" + text + "\n\n"
        f"![reward vs calls]({out.with_suffix('.png').name})\n"
    )


if __name__ == "__main__":
    main()

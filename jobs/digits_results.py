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

Tables come from ``svdd_ray.report.write_report`` (median / p90 per run); naturalness from
``svdd_ray.images.metrics`` (classifier max-probability, Frechet distance to held-out digits).
A run directory that already holds a complete run is not run again (its recorded time is kept).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
            f"value.network={VALUE_NETWORK}",
            f"value.checkpoint={Path(value_dir) / VALUE_NETS[reward]}",
        ]
    if method == "dps":
        return [
            "run.method=dps",
            "run.num_candidates=1",
            f"value.guide={GUIDE}",
            "value.guide_options={target: 3}",
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


# ---------------------------------------------------------------- reading runs back


def decode_objects(run_dir: Path) -> tuple[list[np.ndarray], pd.DataFrame]:
    from PIL import Image

    frame = pd.read_parquet(run_dir).sort_values("index").reset_index(drop=True)
    images = [np.asarray(Image.open(io.BytesIO(b))) for b in frame["object"]]
    return images, frame


class Naturalness:
    """Classifier max-probability and Frechet distances of a run's images (svdd_ray.images.metrics)."""

    def __init__(self, target: int = 3) -> None:
        from svdd_ray.images import load_classifier, load_digits_split

        self.classifier = load_classifier()
        split = load_digits_split()
        self.heldout = split.heldout_images
        self.heldout_target = split.heldout_images[split.heldout_labels == target]
        self.train = split.train_images
        self.train_target = split.train_images[split.train_labels == target]

    def __call__(self, x: torch.Tensor) -> dict:
        from svdd_ray.images.metrics import classifier_outputs, frechet_distance, sample_quality

        q = sample_quality(x, self.classifier, self.heldout)
        feats, _ = classifier_outputs(self.classifier, x)
        target_feats, _ = classifier_outputs(self.classifier, self.heldout_target)
        q["frechet_target"] = frechet_distance(feats, target_feats)
        return q

    def floors(self, n: int) -> dict:
        """The same metrics for real training digits: n random ones, and all training 3s."""
        g = torch.Generator().manual_seed(0)
        real = self(self.train[torch.randperm(len(self.train), generator=g)[:n]])
        threes = self(self.train_target)
        return {"real": real, "real_target": threes}


# ---------------------------------------------------------------- figures


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def best_samples_figure(rows: list[tuple[str, list[np.ndarray], np.ndarray]], title: str, path: Path, k: int = 8):
    """One row per method: its k best distinct samples with their rewards."""
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), k, figsize=(1.0 * k + 1.2, 1.15 * len(rows) + 0.4), squeeze=False)
    for r, (label, images, rewards) in enumerate(rows):
        seen, picked = set(), []
        for i in np.argsort(-np.nan_to_num(rewards, nan=-np.inf)):
            key = images[i].tobytes()
            if key not in seen:
                seen.add(key)
                picked.append(i)
            if len(picked) == k:
                break
        for c in range(k):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(picked):
                ax.imshow(images[picked[c]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{rewards[picked[c]]:.3g}", fontsize=7, pad=2)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def naturalness_figure(quality: dict, floors: dict, path: Path) -> None:
    """Per reward: classifier max-probability and Frechet distances per method, real-digit floors dashed.

    The third panel (Frechet to the held-out 3s, floor: real training 3s) is drawn for the digit-3 reward only.
    """
    plt = pyplot()
    rewards = list(quality)
    panels = [
        ("mean_max_prob", "classifier max-probability", "real", "real digits"),
        ("frechet", "Frechet vs held-out digits", "real", "real digits"),
        ("frechet_target", "Frechet vs held-out 3s", "real_target", "real 3s"),
    ]
    fig, axes = plt.subplots(len(rewards), 3, figsize=(14, 3.2 * len(rewards)), squeeze=False)
    for r, reward in enumerate(rewards):
        methods = list(quality[reward])
        labels = [LABELS[m] for m in methods]
        for c, (key, name, floor, floor_label) in enumerate(panels):
            ax = axes[r, c]
            if key == "frechet_target" and reward != "digit3":
                ax.axis("off")
                continue
            vals = [quality[reward][m][key] for m in methods]
            ax.bar(labels, vals, color="tab:blue")
            ax.axhline(floors[floor][key], color="k", linestyle="--", linewidth=1, label=floor_label)
            for i, v in enumerate(vals):
                ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
            ax.set_title(f"{TITLES[reward]}: {name}", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
            if key == "mean_max_prob":
                ax.set_ylim(0, 1.05)
            ax.legend(fontsize=7, loc="lower right" if key == "mean_max_prob" else "upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curve_figure(curve: pd.DataFrame, path: Path) -> None:
    """SVDD-PM median / p90 reward against M, with each point's wall time on a second axis."""
    plt = pyplot()
    rewards = list(curve["reward"].unique())
    fig, axes = plt.subplots(1, len(rewards), figsize=(5.5 * len(rewards), 4), squeeze=False)
    for ax, reward in zip(axes[0], rewards):
        part = curve[curve["reward"] == reward].sort_values("M")
        ax.plot(part["M"], part["median"], marker="o", label="median")
        ax.plot(part["M"], part["p90"], marker="^", linestyle="--", label="p90")
        ax.axhline(part["pretrained_median"].iloc[0], color="gray", linestyle=":", label="pre-trained median")
        ax.set_xscale("log", base=2)
        if part["median"].max() - part["median"].min() > 100 * abs(part["median"].max()):
            ax.set_yscale("symlog", linthresh=1e-3)  # log-probabilities saturating at 0
            ax.set_ylim(top=0.0)
        ax.set_xlabel("M (candidates per step)")
        ax.set_ylabel("reward")
        ax.set_title(f"SVDD-PM, {TITLES[reward]}", fontsize=9)
        twin = ax.twinx()
        twin.bar(part["M"], part["wall_s"], width=part["M"] * 0.35, alpha=0.25, color="tab:red")
        twin.set_ylabel("wall time (s)", color="tab:red")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main


def fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, float) and abs(v) < 0.5 * 10**-digits:
        v = 0.0  # no "-0.00"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def md_table(header: list[str], rows: list[list]) -> str:
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


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
    total_s = time.perf_counter() - began

    # ------------------------------------------------------------ reports and tables
    from svdd_ray.report import write_report

    timings = runner.timings
    summaries, quality, best_rows = {}, {}, {}
    nat = Naturalness(target=3)
    floors = nat.floors(args.num_samples)
    for reward, runs in main_runs.items():
        report_dir = write_report(list(runs.values()), root / f"report-{reward}")
        summary = pd.read_csv(report_dir / "summary.csv").set_index("run")
        shutil.copy(report_dir / "reward_distributions.png", docs / f"digits_reward_distributions_{reward}.png")
        summaries[reward], quality[reward], best_rows[reward] = summary, {}, []
        for method, d in runs.items():
            images, frame = decode_objects(d)
            from svdd_ray.images import from_uint8_images

            quality[reward][method] = nat(from_uint8_images(images))
            quality[reward][method]["distinct"] = len({im.tobytes() for im in images})
            best_rows[reward].append((LABELS[method], images, frame["reward"].to_numpy()))
        best_samples_figure(
            best_rows[reward],
            f"{TITLES[reward]}: best {8} of {args.num_samples} samples per method (M = {args.m})",
            docs / f"digits_best_{reward}.png",
        )
    naturalness_figure(quality, floors, docs / "digits_naturalness.png")

    curve_rows = []
    for reward, runs in curve_runs.items():
        report_dir = write_report(list(runs.values()), root / f"report-curve-{reward}")
        summary = pd.read_csv(report_dir / "summary.csv").set_index("run")
        pre = summaries[reward].loc[main_runs[reward]["pretrained"].name, "reward_median"]
        for m, d in runs.items():
            row = summary.loc[d.name]
            curve_rows.append(
                {
                    "reward": reward,
                    "M": m,
                    "median": row["reward_median"],
                    "p90": row["reward_p90"],
                    "reward_calls": int(row["reward_calls"]),
                    "wall_s": timings.get(d.name, {}).get("wall_s", float("nan")),
                    "load": timings.get(d.name, {}).get("load_avg_1m", float("nan")),
                    "pretrained_median": pre,
                }
            )
    curve = pd.DataFrame(curve_rows)
    curve_figure(curve, docs / "digits_svdd_vs_m.png")

    # ------------------------------------------------------------ the markdown
    meta = {
        "num_samples": args.num_samples,
        "batch_size": args.batch_size,
        "M": args.m,
        "seed": args.seed,
        "smc_alpha": smc_alpha,
        "dps_scale": dps_scale,
        "tuning": {r: {k: {str(a): v for a, v in g.items()} for k, g in t.items()} for r, t in tuning.items()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_avg": os.getloadavg(),
        "this_invocation_s": total_s,
    }
    (root / "results.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "quality": quality,
                "floors": floors,
                "curve": curve_rows,
                "summaries": {r: s.reset_index().to_dict("records") for r, s in summaries.items()},
                "timings": timings,
            },
            indent=2,
            default=float,
        )
    )
    (docs / "digits_results.md").write_text(
        render(meta, main_runs, summaries, quality, floors, curve, timings, args) + "\n"
    )
    print(f"wrote {docs / 'digits_results.md'} ({total_s:.0f} s)")
    return 0


def render(meta, main_runs, summaries, quality, floors, curve, timings, args) -> str:
    m = args.m
    lines = [
        "# Steering the digits prior: SVDD and baselines (images, end to end)",
        "",
        "Generated by `python jobs/digits_results.py` (runs in `runs/digits_results/`, not committed).",
        "",
        f"**Setup.** The committed 8x8 digits DDPM (`checkpoints/digits`, 50 DDPM steps, cosine schedule) "
        f"steered toward two rewards: **compressibility** (negative JPEG size in bytes at quality 95; "
        f"non-differentiable) and **digit 3** (log p(3 | x) under the committed digit classifier). "
        f"Every run goes through `svdd_ray.engine.run` on the Ray backend (1 denoiser actor with 1 CPU, "
        f"1 reward actor with 0.5 CPU) from `configs/digits_compressibility.yaml` / "
        f"`configs/digits_classifier.yaml` with dotted overrides. All methods: **{meta['num_samples']} samples**, "
        f"batches of {meta['batch_size']}, **seed {meta['seed']}**, equal **M = {m}**: SVDD keeps 1 of {m} "
        f"proposals per step (alpha = 0), SMC runs {m} particles per sample, best-of-N draws N = {m} "
        f"pretrained samples per output (`keep: top`, the paper's variant: the top 1/{m} of each batch's "
        f"{m}x draws). DPS takes one guided proposal per step (digit reward only). "
        f"SVDD-PM values a candidate by the reward of its Tweedie prediction x0_hat; SVDD-MC by the "
        f"regressed value network `{VALUE_NETWORK}` evaluated inside the denoiser actor (the reward is "
        f"called only at the last step).",
        "",
        f"**Tuning** (seed {TUNING_SEED}, {meta['batch_size']} samples, best median reward): SMC alpha "
        + ", ".join(
            f"{r}: " + " / ".join(f"{a} -> {v:.3f}" for a, v in t["smc"].items()) + f" (chose {meta['smc_alpha'][r]:g})"
            for r, t in meta["tuning"].items()
        )
        + "; DPS guidance scale "
        + " / ".join(f"{s} -> {v:.3f}" for s, v in meta["tuning"]["digit3"]["dps"].items())
        + f" (chose {meta['dps_scale']:g}).",
        "",
        "## Table 1 form: reward quantiles",
        "",
        "Median (50%) and 90th percentile of the reward over the final samples (from "
        "`svdd_ray.report.write_report`); higher is better. `-` = not applicable.",
        "",
    ]
    header = ["reward", "quantile"] + [LABELS[x] for x in METHODS]
    rows = []
    for reward, runs in main_runs.items():
        s = summaries[reward]
        for q, col in (("50% (median)", "reward_median"), ("90%", "reward_p90")):
            rows.append(
                [TITLES[reward], q]
                + [
                    fmt(float(s.loc[runs[x].name, col]), 2 if reward == "compressibility" else 4) if x in runs else "-"
                    for x in METHODS
                ]
            )
    rows.append(
        ["*paper: SD v1.5 compressibility*", "50% (median)"]
        + [f"*{PAPER_SD_MEDIANS[x]}*" if x in PAPER_SD_MEDIANS else "-" for x in METHODS]
    )
    lines += [md_table(header, rows), ""]
    lines += ordering_notes(main_runs, summaries)
    lines += ["", "## Observations", ""] + observations(meta, main_runs, summaries, quality, timings)
    lines += ["", "## Per run: cost, time and naturalness", ""]
    lines += [
        "max-prob: the digit classifier's mean max class probability; Frechet: distance between Gaussians "
        "fitted to the classifier's penultimate features of the samples and of the 359 held-out digits "
        "(`svdd_ray.images.metrics`; lower = closer). Frechet-3: the same against the 40 held-out 3s. "
        "reward calls: objects scored by reward actors (after the run's cache). wall s: `engine.run` end to end, "
        "actor start included; load: the machine's 1-minute load average when the run ended (2 cores, shared). "
        "distinct: distinct images among the samples (SMC's final resampling can repeat a particle). "
        "Caveat for the digit-3 reward: the classifier that scores naturalness is the "
        "reward model, so max-prob is inflated by steering toward it.",
        "",
    ]
    header = [
        "reward",
        "method",
        "M",
        "n",
        "median",
        "p90",
        "reward calls",
        "wall s",
        "load",
        "distinct",
        "max-prob",
        "Frechet",
        "Frechet-3",
        "class entropy",
    ]
    rows = []
    for reward, runs in main_runs.items():
        s = summaries[reward]
        for method, d in runs.items():
            r, q = s.loc[d.name], quality[reward][method]
            rows.append(
                [
                    TITLES[reward].split(" (")[0],
                    LABELS[method],
                    int(r["M"]),
                    int(r["n"]),
                    fmt(float(r["reward_median"])),
                    fmt(float(r["reward_p90"])),
                    int(r["reward_calls"]),
                    fmt(timings.get(d.name, {}).get("wall_s"), 1),
                    fmt(timings.get(d.name, {}).get("load_avg_1m"), 1),
                    q["distinct"],
                    fmt(q["mean_max_prob"]),
                    fmt(q["frechet"], 1),
                    fmt(q["frechet_target"], 1),
                    fmt(q["class_entropy"], 2),
                ]
            )

    def reference_row(label: str, floor: dict) -> list:
        """A row of real digits: no method, no reward, only the naturalness columns."""
        return [
            "-",
            f"{label} ({floor['n']})",
            "-",
            floor["n"],
            "-",
            "-",
            "-",
            "-",
            "-",
            floor["n"],
            fmt(floor["mean_max_prob"]),
            fmt(floor["frechet"], 1),
            fmt(floor["frechet_target"], 1),
            fmt(floor["class_entropy"], 2),
        ]

    rows.append(reference_row("real training digits", floors["real"]))
    rows.append(reference_row("real training 3s", floors["real_target"]))
    lines += [md_table(header, rows), ""]
    lines += [
        "![naturalness](digits_naturalness.png)",
        "",
        "Best samples per method (the 8 highest-reward distinct samples of each run, reward above each):",
        "",
        "![best compressibility](digits_best_compressibility.png)",
        "",
        "![best digit 3](digits_best_digit3.png)",
        "",
        "Reward distributions (`write_report`): "
        "[compressibility](digits_reward_distributions_compressibility.png), "
        "[digit 3](digits_reward_distributions_digit3.png).",
        "",
        "## SVDD-MC against SVDD-PM",
        "",
    ]
    header = [
        "reward",
        "SVDD-PM median",
        "SVDD-MC median",
        "SVDD-PM p90",
        "SVDD-MC p90",
        "PM reward calls",
        "MC reward calls",
        "PM wall s",
        "MC wall s",
    ]
    rows = []
    for reward, runs in main_runs.items():
        s = summaries[reward]
        pm, mc = s.loc[runs["svdd_pm"].name], s.loc[runs["svdd_mc"].name]
        rows.append(
            [
                TITLES[reward],
                fmt(float(pm["reward_median"])),
                fmt(float(mc["reward_median"])),
                fmt(float(pm["reward_p90"])),
                fmt(float(mc["reward_p90"])),
                int(pm["reward_calls"]),
                int(mc["reward_calls"]),
                fmt(timings.get(runs["svdd_pm"].name, {}).get("wall_s"), 1),
                fmt(timings.get(runs["svdd_mc"].name, {}).get("wall_s"), 1),
            ]
        )
    lines += [md_table(header, rows), ""]
    lines += value_net_notes(Path(args.runs))
    lines += [
        "## SVDD-PM reward against M",
        "",
        f"Same {meta['num_samples']} samples and seed, M = {', '.join(str(x) for x in sorted(curve['M'].unique()))} "
        "(M = 1 is plain sampling). wall s: `engine.run` end to end on the shared 2-core machine.",
        "",
    ]
    header = ["reward", "M", "median", "p90", "reward calls", "wall s", "load"]
    rows = [
        [
            TITLES[r["reward"]],
            int(r["M"]),
            fmt(r["median"]),
            fmt(r["p90"]),
            r["reward_calls"],
            fmt(r["wall_s"], 1),
            fmt(r["load"], 1),
        ]
        for r in curve.sort_values(["reward", "M"]).to_dict("records")
    ]
    lines += [md_table(header, rows), "", "![SVDD against M](digits_svdd_vs_m.png)", ""]
    main_s = sum(timings.get(d.name, {}).get("wall_s", 0.0) for runs in main_runs.values() for d in runs.values())
    main_names = {d.name for runs in main_runs.values() for d in runs.values()}
    curve_s = sum(r["wall_s"] for r in curve.to_dict("records") if f"{r['reward']}-svdd_pm-M{r['M']}" not in main_names)
    tune_s = sum(v.get("wall_s", 0.0) for k, v in timings.items() if k.startswith("tune-"))
    lines += [
        f"Total wall time: main table {main_s / 60:.1f} min ({sum(len(r) for r in main_runs.values())} runs), "
        f"M curve {curve_s / 60:.1f} min more (the M = {meta['M']} points are the main runs), tuning "
        f"{tune_s / 60:.1f} min.",
        "",
    ]
    lines += [
        "## Environment",
        "",
        f"torch {meta['torch']} (CPU, 1 thread per process), Python {meta['python']}, Ray backend on a 2-core "
        "machine shared with other people's jobs: the `load` columns give the 1-minute load average when each "
        "run ended (2 = both cores busy), so wall times are upper bounds for an idle machine. The main table "
        "and the M curve were run when the machine was otherwise mostly idle.",
    ]
    return "\n".join(lines)


def value_net_notes(root: Path) -> list[str]:
    """Held-out regression errors of the value networks (``jobs/train_value.py --metrics``), if recorded."""
    out = []
    for reward in CONFIGS:
        path = root / f"value_metrics_{reward}.json"
        if not path.is_file():
            continue
        v = json.loads(path.read_text())
        if not out:
            out = [
                f"Value networks (`{VALUE_NETWORK}`, trained by `jobs/train_value.py`): held-out mean squared error "
                "on states of independent pretrained rollouts, against predicting the training mean "
                "(ratio < 1 = the network explains part of the reward). t/T near 0 = nearly clean.",
                "",
            ]
            bins = list(v["heldout"])
            out += [
                md_table(
                    ["value net", "rollouts (train / held-out)", "reward std", *[f"MSE ratio {b}" for b in bins]], []
                )
            ]
        row = [
            VALUE_NETS[reward],
            f"{v['rollouts']} / {v['heldout_rollouts']}",
            fmt(v["reward_std"]),
            *[f"{h['mse_net']:.3g} / {h['mse_mean']:.3g} = {h['ratio']:.2f}" for h in v["heldout"].values()],
        ]
        out[-1] += "\n| " + " | ".join(row) + " |"
    return out + [""] if out else []


def observations(meta, main_runs, summaries, quality, timings) -> list[str]:
    """Computed remarks on the tables (what beats what, at what cost in diversity and naturalness)."""

    def med(reward, method):
        return float(summaries[reward].loc[main_runs[reward][method].name, "reward_median"])

    def calls(reward, method):
        return int(summaries[reward].loc[main_runs[reward][method].name, "reward_calls"])

    def wall(reward, method):
        return timings.get(main_runs[reward][method].name, {}).get("wall_s", float("nan"))

    out = []
    for reward, runs in main_runs.items():
        order = sorted(runs, key=lambda x: -med(reward, x))
        q = quality[reward]
        best = order[0]
        if best == "svdd_pm":
            head = f"SVDD-PM has the best median ({med(reward, 'svdd_pm'):.4g})"
        else:
            a, b = med(reward, best), med(reward, "svdd_pm")
            verb = "ties with" if abs(a - b) <= 0.01 * max(abs(a), abs(b)) else "beats"
            head = f"{LABELS[best]} {verb} SVDD-PM on the median ({a:.4g} vs {b:.4g})"
        out.append(
            f"- **{TITLES[reward]}**: {head}. Diversity of the {meta['num_samples']} samples (distinct images / "
            "class entropy, nats): "
            + ", ".join(f"{LABELS[m]} {q[m]['distinct']} / {q[m]['class_entropy'] + 0.0:.2f}" for m in order)
            + "."
        )
    r3 = "digit3"
    closest = sorted(quality[r3], key=lambda m: quality[r3][m]["frechet_target"])
    out.append(
        "- **Digit 3, naturalness**: Frechet distance to the held-out 3s, closest first: "
        + ", ".join(f"{LABELS[m]} {quality[r3][m]['frechet_target']:.1f}" for m in closest)
        + " (real training 3s: see the floor row below)."
        + (
            " The highest reward is not the most natural 3: with the classifier as the reward, strong steering "
            "keeps pushing class-3 confidence after the images already look like 3s."
            if closest[0] != max(main_runs[r3], key=lambda m: med(r3, m))
            else ""
        )
    )
    for reward in main_runs:
        pm, mc = "svdd_pm", "svdd_mc"
        out.append(
            f"- **SVDD-MC vs SVDD-PM, {TITLES[reward]}**: median {med(reward, mc):.3f} vs {med(reward, pm):.3f}; "
            f"reward calls {calls(reward, mc)} vs {calls(reward, pm)}; wall {wall(reward, mc):.0f} s vs "
            f"{wall(reward, pm):.0f} s. MC asks the reward only at the last step, where the "
            f"{meta['num_samples'] * meta['M']} candidates were {calls(reward, mc)} distinct uint8 images "
            "(DDPM's last-step noise is below a grey level), so its selection rests on the value network, "
            "which explains only part of the reward variance at high noise (see the regression table)."
        )
    if meta["dps_scale"] >= 30:
        out.append(
            f"- **DPS at guidance scale {meta['dps_scale']:g}** (chosen by median reward): its best samples "
            "(figure below) are high-frequency patterns that the classifier scores as 3 rather than clean 3s: "
            "following the reward model's own gradient that hard is an adversarial attack on it "
            f"(Frechet-3 {quality['digit3']['dps']['frechet_target']:.1f}, max-prob "
            f"{quality['digit3']['dps']['mean_max_prob']:.3f}). Smaller scales give cleaner digits at lower reward "
            "(see the tuning line)."
        )
    edges = []
    for reward, grids in meta["tuning"].items():
        for name, grid in grids.items():
            keys = sorted(float(k) for k in grid)
            chosen = meta["smc_alpha"][reward] if name == "smc" else meta["dps_scale"]
            if chosen in (keys[0], keys[-1]):
                edges.append(f"{name} on {reward} ({chosen:g} of {keys[0]:g}..{keys[-1]:g})")
    if edges:
        out.append("- Tuned values at the edge of their grid: " + "; ".join(edges) + ".")
    return out


def ordering_notes(main_runs, summaries) -> list[str]:
    out = ["Ordering by median (best first):", ""]
    for reward, runs in main_runs.items():
        s = summaries[reward]
        order = sorted(runs, key=lambda x: -float(s.loc[runs[x].name, "reward_median"]))
        out.append(f"- {TITLES[reward]}: " + " > ".join(LABELS[x] for x in order))
    out.append("- paper (SD v1.5 compressibility): SVDD-PM > SMC > DPS > Best-of-N > Pre-trained")
    return out


if __name__ == "__main__":
    sys.exit(main())

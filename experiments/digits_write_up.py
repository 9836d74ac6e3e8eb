"""The write-up of the digits steering results.

:func:`write_results` turns the finished runs of ``jobs/digits_results.py`` (which only plans and
launches them) into ``docs/digits_results.md``, its figures and ``results.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class DigitsPlan:
    """What the write-up needs to know of the experiment plan (``jobs/digits_results.py``)."""

    titles: dict[str, str]  # reward -> title, in table order
    labels: dict[str, str]  # method -> label, in table order
    paper_medians: dict[str, float]  # method -> SD v1.5 compressibility median (Li et al. 2024, Table 1)
    value_nets: dict[str, str]  # reward -> value-network checkpoint file
    value_network: str  # the value network's target
    tuning_seed: int
    target: int = 3  # the class the classifier reward asks for
    target_reward: str = "digit3"

    @property
    def methods(self) -> list[str]:
        return list(self.labels)


def write_results(
    plan: DigitsPlan,
    settings: dict,
    main_runs: dict[str, dict[str, Path]],
    curve_runs: dict[str, dict[int, Path]],
    timings: dict,
    root: Path,
    docs: Path,
    elapsed_s: float,
) -> Path:
    """Reports, naturalness, figures, ``results.json`` (in ``root``) and ``digits_results.md`` (in ``docs``).

    ``settings``: num_samples, batch_size, M, seed, the chosen smc_alpha (per reward) and dps_scale, and
    the ``tuning`` grids (reward -> method -> value -> median reward); ``timings``: run name -> wall_s, load_avg_1m.
    """
    import torch

    from svdd_ray.images.data import from_uint8_images
    from svdd_ray.images.figures import best_samples_figure, curve_figure, naturalness_figure
    from svdd_ray.images.metrics import Naturalness, distinct_images
    from svdd_ray.report import load_run, write_report

    summaries, quality = {}, {}
    nat = Naturalness(target=plan.target)
    floors = nat.floors(settings["num_samples"])
    for reward, runs in main_runs.items():
        # naturalness comes from Naturalness below (it adds the target class), not from the report
        report_dir = write_report(list(runs.values()), root / f"report-{reward}", novelty=False)
        summaries[reward] = pd.read_csv(report_dir / "summary.csv").set_index("run")
        shutil.copy(report_dir / "reward_distributions.png", docs / f"digits_reward_distributions_{reward}.png")
        quality[reward], best_rows = {}, []
        for method, d in runs.items():
            run = load_run(d)
            images = run.objects()
            quality[reward][method] = {**nat(from_uint8_images(images)), "distinct": distinct_images(images)}
            best_rows.append((plan.labels[method], images, run.samples["reward"].to_numpy()))
        best_samples_figure(
            best_rows,
            f"{plan.titles[reward]}: best 8 of {settings['num_samples']} samples per method (M = {settings['M']})",
            docs / f"digits_best_{reward}.png",
        )
    naturalness_figure(
        quality, floors, docs / "digits_naturalness.png", plan.titles, plan.labels, {plan.target_reward}, plan.target
    )

    curve_rows = []
    for reward, runs in curve_runs.items():
        report_dir = write_report(list(runs.values()), root / f"report-curve-{reward}", novelty=False)
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
    curve_figure(curve, docs / "digits_svdd_vs_m.png", plan.titles)

    meta = {
        **{k: v for k, v in settings.items() if k != "tuning"},
        "tuning": {
            r: {k: {str(a): v for a, v in g.items()} for k, g in t.items()} for r, t in settings["tuning"].items()
        },
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_avg": os.getloadavg(),
        "this_invocation_s": elapsed_s,
    }
    results = {
        "meta": meta,
        "quality": quality,
        "floors": floors,
        "curve": curve_rows,
        "summaries": {r: s.reset_index().to_dict("records") for r, s in summaries.items()},
        "timings": timings,
    }
    (root / "results.json").write_text(json.dumps(results, indent=2, default=float))
    path = docs / "digits_results.md"
    path.write_text(render(plan, meta, main_runs, summaries, quality, floors, curve, timings, root) + "\n")
    return path


def _num(value, digits: int = 3) -> str:
    """A number for the write-up's tables: ``-`` when missing."""
    from svdd_ray.report import fmt

    return fmt(value, digits, missing="-")


def _table(header: list[str], rows: list[list]) -> str:
    """A Markdown table with its number columns right-aligned."""
    from svdd_ray.report import markdown_table

    return markdown_table(pd.DataFrame(rows, columns=header), align_right=True)


def value_net_notes(plan: DigitsPlan, root: Path) -> list[str]:
    """Held-out regression errors of the value networks (``jobs/train_value.py --metrics``), if recorded."""
    header, rows = None, []
    for reward in plan.titles:
        path = root / f"value_metrics_{reward}.json"
        if not path.is_file():
            continue
        v = json.loads(path.read_text())
        if header is None:
            bins = list(v["heldout"])
            header = ["value net", "rollouts (train / held-out)", "reward std", *[f"MSE ratio {b}" for b in bins]]
        rows.append(
            [
                plan.value_nets[reward],
                f"{v['rollouts']} / {v['heldout_rollouts']}",
                _num(v["reward_std"]),
                *[f"{h['mse_net']:.3g} / {h['mse_mean']:.3g} = {h['ratio']:.2f}" for h in v["heldout"].values()],
            ]
        )
    if header is None:
        return []
    return [
        f"Value networks (`{plan.value_network}`, trained by `jobs/train_value.py`): held-out mean squared error "
        "on states of independent pretrained rollouts, against predicting the training mean "
        "(ratio < 1 = the network explains part of the reward). t/T near 0 = nearly clean.",
        "",
        _table(header, rows),
        "",
    ]


def render(
    plan: DigitsPlan,
    meta: dict,
    main_runs: dict,
    summaries: dict,
    quality: dict,
    floors: dict,
    curve: pd.DataFrame,
    timings: dict,
    root: Path,
) -> str:
    """The Markdown of ``docs/digits_results.md``."""
    m = meta["M"]
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
        f"pretrained samples per output (`pick: top`, the paper's variant: the top 1/{m} of each batch's "
        f"{m}x draws). DPS takes one guided proposal per step (digit reward only). "
        f"SVDD-PM values a candidate by the reward of its Tweedie prediction x0_hat; SVDD-MC by the "
        f"regressed value network `{plan.value_network}` evaluated inside the denoiser actor (the reward is "
        f"called only at the last step).",
        "",
        f"**Tuning** (seed {plan.tuning_seed}, {meta['batch_size']} samples, best median reward): SMC alpha "
        + ", ".join(
            f"{r}: " + " / ".join(f"{a} -> {v:.3f}" for a, v in t["smc"].items()) + f" (chose {meta['smc_alpha'][r]:g})"
            for r, t in meta["tuning"].items()
        )
        + "; DPS guidance scale "
        + " / ".join(f"{s} -> {v:.3f}" for s, v in meta["tuning"][plan.target_reward]["dps"].items())
        + f" (chose {meta['dps_scale']:g}).",
        "",
        "## Table 1 form: reward quantiles",
        "",
        "Median (50%) and 90th percentile of the reward over the final samples (from "
        "`svdd_ray.report.write_report`); higher is better. `-` = not applicable.",
        "",
    ]
    header = ["reward", "quantile"] + [plan.labels[x] for x in plan.methods]
    rows = []
    for reward, runs in main_runs.items():
        s = summaries[reward]
        for q, col in (("50% (median)", "reward_median"), ("90%", "reward_p90")):
            rows.append(
                [plan.titles[reward], q]
                + [
                    _num(float(s.loc[runs[x].name, col]), 2 if reward == "compressibility" else 4) if x in runs else "-"
                    for x in plan.methods
                ]
            )
    rows.append(
        ["*paper: SD v1.5 compressibility*", "50% (median)"]
        + [f"*{plan.paper_medians[x]}*" if x in plan.paper_medians else "-" for x in plan.methods]
    )
    lines += [_table(header, rows), ""]
    lines += ordering_notes(plan, main_runs, summaries)
    lines += ["", "## Observations", ""] + observations(plan, meta, main_runs, summaries, quality, timings)
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
                    plan.titles[reward].split(" (")[0],
                    plan.labels[method],
                    int(r["M"]),
                    int(r["n"]),
                    _num(float(r["reward_median"])),
                    _num(float(r["reward_p90"])),
                    int(r["reward_calls"]),
                    _num(timings.get(d.name, {}).get("wall_s"), 1),
                    _num(timings.get(d.name, {}).get("load_avg_1m"), 1),
                    q["distinct"],
                    _num(q["mean_max_prob"]),
                    _num(q["frechet"], 1),
                    _num(q["frechet_target"], 1),
                    _num(q["class_entropy"], 2),
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
            _num(floor["mean_max_prob"]),
            _num(floor["frechet"], 1),
            _num(floor["frechet_target"], 1),
            _num(floor["class_entropy"], 2),
        ]

    rows.append(reference_row("real training digits", floors["real"]))
    rows.append(reference_row("real training 3s", floors["real_target"]))
    lines += [_table(header, rows), ""]
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
                plan.titles[reward],
                _num(float(pm["reward_median"])),
                _num(float(mc["reward_median"])),
                _num(float(pm["reward_p90"])),
                _num(float(mc["reward_p90"])),
                int(pm["reward_calls"]),
                int(mc["reward_calls"]),
                _num(timings.get(runs["svdd_pm"].name, {}).get("wall_s"), 1),
                _num(timings.get(runs["svdd_mc"].name, {}).get("wall_s"), 1),
            ]
        )
    lines += [_table(header, rows), ""]
    lines += value_net_notes(plan, root)
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
            plan.titles[r["reward"]],
            int(r["M"]),
            _num(r["median"]),
            _num(r["p90"]),
            r["reward_calls"],
            _num(r["wall_s"], 1),
            _num(r["load"], 1),
        ]
        for r in curve.sort_values(["reward", "M"]).to_dict("records")
    ]
    lines += [_table(header, rows), "", "![SVDD against M](digits_svdd_vs_m.png)", ""]
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


def observations(
    plan: DigitsPlan, meta: dict, main_runs: dict, summaries: dict, quality: dict, timings: dict
) -> list[str]:
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
            head = f"{plan.labels[best]} {verb} SVDD-PM on the median ({a:.4g} vs {b:.4g})"
        out.append(
            f"- **{plan.titles[reward]}**: {head}. Diversity of the {meta['num_samples']} samples (distinct images / "
            "class entropy, nats): "
            + ", ".join(f"{plan.labels[m]} {q[m]['distinct']} / {q[m]['class_entropy'] + 0.0:.2f}" for m in order)
            + "."
        )
    r3 = plan.target_reward
    closest = sorted(quality[r3], key=lambda m: quality[r3][m]["frechet_target"])
    out.append(
        "- **Digit 3, naturalness**: Frechet distance to the held-out 3s, closest first: "
        + ", ".join(f"{plan.labels[m]} {quality[r3][m]['frechet_target']:.1f}" for m in closest)
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
            f"- **SVDD-MC vs SVDD-PM, {plan.titles[reward]}**: median {med(reward, mc):.3f} vs {med(reward, pm):.3f}; "
            f"reward calls {calls(reward, mc)} vs {calls(reward, pm)}; wall {wall(reward, mc):.0f} s vs "
            f"{wall(reward, pm):.0f} s. MC asks the reward only at the last step, where the "
            f"{meta['num_samples'] * meta['M']} candidates were {calls(reward, mc)} distinct uint8 images "
            "(DDPM's last-step noise is below a grey level), so its selection rests on the value network, "
            "which explains only part of the reward variance at high noise (see the regression table)."
        )
    if meta["dps_scale"] >= 30:
        dps = quality[plan.target_reward]["dps"]
        out.append(
            f"- **DPS at guidance scale {meta['dps_scale']:g}** (chosen by median reward): its best samples "
            "(figure below) are high-frequency patterns that the classifier scores as 3 rather than clean 3s: "
            "following the reward model's own gradient that hard is an adversarial attack on it "
            f"(Frechet-3 {dps['frechet_target']:.1f}, max-prob {dps['mean_max_prob']:.3f}). Smaller scales give "
            "cleaner digits at lower reward (see the tuning line)."
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


def ordering_notes(plan: DigitsPlan, main_runs: dict, summaries: dict) -> list[str]:
    """Methods ordered by median reward, per reward and in the paper."""
    out = ["Ordering by median (best first):", ""]
    for reward, runs in main_runs.items():
        s = summaries[reward]
        order = sorted(runs, key=lambda x: -float(s.loc[runs[x].name, "reward_median"]))
        out.append(f"- {plan.titles[reward]}: " + " > ".join(plan.labels[x] for x in order))
    out.append("- paper (SD v1.5 compressibility): SVDD-PM > SMC > DPS > Best-of-N > Pre-trained")
    return out

"""RNA results: target-structure design and stability on the uniform RNA prior, at equal folding calls.

For every target of ``svdd_ray.rna.targets`` (length L, T = L // 2 reverse steps, M candidates):

* a pool of ``samples * M * T`` pretrained sequences, from which ``pretrained`` (N = 1) and
  best-of-N for every N <= M * T are read (the first N of each group of M * T, so they nest);
* SVDD-PM with M candidates per step; SVDD-PM with 4M candidates selecting every 4th step
  (the same nominal calls); SMC with M particles per design (alpha = 1 bp); beam search (M);
  refinement of elites (the best of M pretrained designs, then T - 1 rounds of M copies re-masked
  ceil(0.05 T) steps back, about 5% of positions, and redrawn, keeping the best: M * T calls);
* ViennaRNA's RNAinverse (``RNA.inverse_fold``) from uniform random starts, restarted until the
  design folds into the target or its CPU time reaches that of M * T folds of a random sequence
  of length L (RNAinverse folds substructures inside C code and cannot be counted call by call,
  so its budget is CPU time in units of one full fold, measured on this machine per target).

:func:`plan` is a target's :class:`~experiments.harness.Plan` (every sampler run goes through
``svdd_ray.engine.run``, local backend, the run-wide reward cache on, from ``configs/rna_structure.yaml`` /
``configs/rna_stability.yaml`` with overrides; a complete run directory is reused); folding calls are the
engine's reward calls (after the cache) per final design. Then stability (50 nt) for pretrained, best-of-N,
SVDD-PM and SMC, and a value ablation (SVDD-PM with each ``completion`` of the prior). :func:`collect` makes
the results record from the runs, :func:`write_outputs` the page and plot. ``jobs/rna_results.py`` is the
command line.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import harness
from experiments.harness import Plan, best_of_pool, calls_per_sample, load_runs
from svdd_ray.rna.targets import TARGETS

REPO = Path(__file__).resolve().parents[1]

#: point name -> (method, candidates factor, alpha for structures, alpha for stability, options, completion)
GUIDED = {
    "SVDD-PM": ("svdd", 1, 0.0, 0.0, {}, "shared"),
    "SVDD-PM 4M, every 4": ("svdd", 4, 0.0, 0.0, {"select_every": 4}, "shared"),
    "SMC": ("smc", 1, 1.0, 0.02, {}, "shared"),
    "beam": ("beam", 1, 0.0, 0.0, {}, "shared"),
    # the best of M pretrained designs, then T - 1 rounds of M copies re-masked 1-2 steps back (~5%): M * T calls
    "refine": ("refine", 1, 0.0, 0.0, {"renoise_to": 0.05}, "shared"),
}
ABLATION = {f"SVDD-PM ({c})": ("svdd", 1, 0.0, 0.0, {}, c) for c in ("sample", "unpaired", "argmax")}
ABLATION_TARGETS = ("hairpin30", "two_hairpins50", "stability")
STABILITY_LENGTH = 50
STABILITY_METHODS = ("SVDD-PM", "SVDD-PM 4M, every 4", "SMC", "refine")
POOL_BATCH = 256


def steps_for(length: int) -> int:
    """T, the reverse steps for sequences of ``length`` nt."""
    return max(8, length // 2)


def length_of(target: str) -> int:
    """The target's sequence length (stability: ``STABILITY_LENGTH``)."""
    return STABILITY_LENGTH if target == "stability" else len(TARGETS[target].structure)


# ------------------------------------------------------------------ the plan
def points(target: str, ablation: bool = True) -> dict[str, tuple]:
    """The target's guided points (name -> GUIDED entry): stability has fewer, ablation targets more."""
    guided = {k: v for k, v in GUIDED.items() if target != "stability" or k in STABILITY_METHODS}
    if ablation and target in ABLATION_TARGETS:
        guided.update(ABLATION)
    return guided


def model_options(target: str, completion: str = "shared") -> str:
    """The prior's options for the target: its length, T steps and how ``predict_x0`` completes masks."""
    length = length_of(target)
    return "model.options=" + json.dumps({"length": length, "num_steps": steps_for(length), "completion": completion})


def methods(target: str, samples: int, m: int, ablation: bool = True) -> dict[str, list[str]]:
    """Point name -> config overrides: the pretrained ``pool`` and every guided point of the target."""
    steps = steps_for(length_of(target))
    table = {"pool": _overrides("pretrained", POOL_BATCH, 1, 0.0, {}, model_options(target))}
    for name, (method, factor, alpha_s, alpha_e, options, completion) in points(target, ablation).items():
        if method == "refine":
            options = {**options, "init": m * factor, "rounds": steps - 1}
        alpha = alpha_e if target == "stability" else alpha_s
        table[name] = _overrides(method, samples, m * factor, alpha, options, model_options(target, completion))
    return table


def _overrides(method: str, batch: int, m: int, alpha: float, options: dict, model: str) -> list[str]:
    return [
        f"run.method={method}",
        f"run.batch_size={batch}",
        f"run.num_candidates={m}",
        f"run.alpha={alpha}",
        f"run.options={json.dumps(options)}",
        model,
    ]


@dataclass
class RnaPlan(Plan):
    """A target's plan: :func:`methods` on its config; ``group`` = M x T, the pool's sequences per design."""

    target: str = "stability"
    group: int = 1


def plan(target: str, samples: int, m: int, seed: int, runs_dir: Path, ablation: bool = True) -> RnaPlan:
    """The target's runs under ``runs_dir/n<samples>_m<m>/<target>``; the pool holds ``samples * M * T``."""
    structure = target != "stability"
    config = REPO / "configs" / ("rna_structure.yaml" if structure else "rna_stability.yaml")
    common = ["run.trace=false"]
    if structure:
        common.append("reward.components.0.options=" + json.dumps({"target": target}))
    group = m * steps_for(length_of(target))
    where = Path(runs_dir) / f"n{samples}_m{m}" / target
    table = methods(target, samples, m, ablation)
    sizes = {"pool": samples * group}
    return RnaPlan(config, table, [seed], samples, where, common, sizes=sizes, timings=where / "timings.json",
                   target=target, group=group)  # fmt: skip


def cost(the_plan: RnaPlan, method: str) -> float:
    """A run's rough cost, for starting the longest first: length^2 x sequences drawn per design."""
    factor = 1 if method == "pool" else {**GUIDED, **ABLATION}[method][1]
    return length_of(the_plan.target) ** 2 * the_plan.group * factor


# ------------------------------------------------------------------ RNAinverse
def fold_seconds(length: int, n: int = 300, seed: int = 0) -> float:
    """Median CPU seconds of one ``RNA.fold`` of a uniform random sequence of ``length`` nt."""
    import RNA

    rng = random.Random(seed)
    times = []
    for _ in range(n):
        seq = "".join(rng.choice("ACGU") for _ in range(length))
        began = time.process_time()
        RNA.fold(seq)
        times.append(time.process_time() - began)
    return statistics.median(times)


def inverse_file(the_plan: RnaPlan) -> Path:
    """Where the target's RNAinverse designs are kept (beside its runs; reused like them)."""
    return the_plan.runs_dir / f"RNAinverse_seed{the_plan.seeds[0]}.json"


def run_inverse(target: str, samples: int, budget_folds: int, seed: int) -> dict:
    """RNAinverse from uniform random starts, restarted within a CPU-time budget per design."""
    import RNA

    from svdd_ray.rna.rewards import TargetStructure

    structure = TARGETS[target].structure
    reward = TargetStructure(structure)
    t_fold = fold_seconds(len(structure), seed=seed)
    budget = budget_folds * t_fold
    RNA.init_rand(seed + 1)
    rng = random.Random(seed)
    objects, rewards, restarts, used = [], [], [], []
    for _ in range(samples):
        best_seq, best_d, k, spent = None, None, 0, 0.0
        while best_d != 0 and (k == 0 or spent < budget):
            start = "".join(rng.choice("ACGU") for _ in structure)
            began = time.process_time()
            seq, _ = RNA.inverse_fold(start, structure)
            d = reward.distances([seq])[0]
            spent += time.process_time() - began
            k += 1
            if best_d is None or d < best_d:
                best_seq, best_d = seq, d
        objects.append(best_seq)
        rewards.append(float(-best_d))
        restarts.append(k)
        used.append(spent)
    return {"objects": objects, "rewards": rewards, "restarts": restarts, "cpu_per_design": used, "t_fold": t_fold}


def _inverse_job(the_plan: RnaPlan) -> dict:
    began = time.perf_counter()
    result = run_inverse(the_plan.target, the_plan.samples, the_plan.group, the_plan.seeds[0])
    print(f"  done {the_plan.target:>17s} {'RNAinverse':<24s} {time.perf_counter() - began:6.1f} s", flush=True)
    return result


def run_inverses(plans: Sequence[RnaPlan], workers: int = 1) -> None:
    """RNAinverse on every structure target of ``plans`` without a result file yet (written beside its runs)."""
    todo = [p for p in plans if p.target != "stability" and not inverse_file(p).is_file()]
    if not todo:
        return
    with ProcessPoolExecutor(max(1, min(workers, len(todo)))) as pool:
        for the_plan, result in zip(todo, pool.map(_inverse_job, todo)):
            inverse_file(the_plan).parent.mkdir(parents=True, exist_ok=True)
            inverse_file(the_plan).write_text(json.dumps(result))


# ------------------------------------------------------------------ tables
def diversity(objects: list[str]) -> float:
    from svdd_ray.rna.domain import mean_pairwise_hamming

    return mean_pairwise_hamming(objects)


def summary_row(name: str, rewards, objects, folds: float, cpu_per_design: float, structure: bool) -> dict:
    r = np.asarray(rewards, dtype=float)
    row = {
        "method": name,
        "n": len(r),
        "folds_per_design": folds,
        "unique": len(set(objects)) / len(objects),
        "diversity": diversity(objects),
        "cpu_s_per_design": cpu_per_design,
    }
    if structure:
        d = 0.0 - r  # distances (no negative zero)
        row.update(
            solved=float(np.mean(d == 0)),
            median_distance=float(np.median(d)),
            best_distance=float(d.min()),
        )
    else:
        row.update(
            median=float(np.median(r)),
            p90=float(np.quantile(r, 0.9)),
            best=float(r.max()),
            lowest_mfe_per_nt=float(-r.max()),
            gc=float(np.mean([(s.count("G") + s.count("C")) / len(s) for s in objects])),
        )
    return row


def _median(row: dict) -> float:
    """The row's headline: median bp distance (structures) or median -MFE/nt (stability)."""
    return row["median_distance"] if "median_distance" in row else row["median"]


def _cpu_seconds(the_plan: RnaPlan, method: str) -> float:
    """The CPU seconds the run of ``method`` recorded when it was made (nan if it recorded none)."""
    name = the_plan.run_dir(method, the_plan.seeds[0]).name
    return harness.timings(the_plan).get(name, {}).get("cpu_s", float("nan"))


class Pool:
    """Best-of-N rows read from a target's pool of pretrained sequences (the first N of each group of M x T)."""

    def __init__(self, the_plan: RnaPlan) -> None:
        self.samples = load_runs(the_plan, "pool")[0].samples
        self.group, self.structure = the_plan.group, the_plan.target != "stability"
        self.cpu = _cpu_seconds(the_plan, "pool") / len(self.samples)  # CPU seconds per pretrained sequence

    def row(self, k: int) -> dict:
        chosen, calls = best_of_pool(self.samples, self.group, k)
        objects = chosen["object"].tolist()
        name = "pretrained" if k == 1 else f"best-of-{k}"
        return summary_row(name, chosen["reward"], objects, calls, self.cpu * k, self.structure)


def section(the_plan: RnaPlan, m: int) -> tuple[dict, list, dict]:
    """A target's section of the record (its rows), its best-of-N curve and its methods' markers."""
    n, group, structure = the_plan.samples, the_plan.group, the_plan.target != "stability"
    pool = Pool(the_plan)
    rows, curve, markers = [], [], {}
    for k in sorted({1, m, *[2**k for k in range(20) if 2**k <= group], group}):
        row = pool.row(k)
        curve.append((row["folds_per_design"], _median(row)))
        if k in (1, m, group):
            rows.append(row)
    for name in the_plan.labels[1:]:
        runs = load_runs(the_plan, name)
        if not runs:
            continue
        folds = calls_per_sample(runs)
        samples = runs[0].samples
        row = summary_row(name, samples["reward"], samples["object"].tolist(), folds,
                          _cpu_seconds(the_plan, name) / n, structure)  # fmt: skip
        # best-of-N at this method's folding calls (the nearest N of the pool, <= M*T)
        row["matched_best_of_n"] = pool.row(int(min(group, max(1, round(folds)))))
        rows.append(row)
        if "(" not in name:
            markers[name] = (folds, _median(row))
    if structure:
        row = inverse_row(json.loads(inverse_file(the_plan).read_text()))
        rows.append(row)
        markers["RNAinverse"] = (row["folds_per_design"], row["median_distance"])
    length = length_of(the_plan.target)
    return {"target": the_plan.target, "length": length, "steps": steps_for(length), "rows": rows}, curve, markers


def inverse_row(inv: dict) -> dict:
    """RNAinverse's row: its CPU time per design in units of one fold of a random sequence."""
    fold_eq = np.asarray(inv["cpu_per_design"]) / inv["t_fold"]
    row = summary_row("RNAinverse", inv["rewards"], inv["objects"], float(fold_eq.mean()),
                      float(np.mean(inv["cpu_per_design"])), True)  # fmt: skip
    row["restarts_mean"] = float(np.mean(inv["restarts"]))
    row["t_fold_ms"] = inv["t_fold"] * 1e3
    return row


def collect(plans: Sequence[RnaPlan], m: int, **meta) -> dict:
    """The results record (``OUT.json``) of ``plans``' runs; ``meta``: seed, workers, wall_s, load_average."""
    sections, curves, markers = [], {}, {}
    for the_plan in plans:
        sec, curves[the_plan.target], markers[the_plan.target] = section(the_plan, m)
        sections.append(sec)
    n = plans[0].samples
    return {"samples": n, "m": m, **meta, "sections": sections, "curves": curves, "markers": markers}


STRUCTURE_COLUMNS: list[harness.Column] = [
    ("method", "method", None),
    ("folds_per_design", "folds / design", "{:.0f}"),
    ("solved", "solved", "{:.2f}"),
    ("median_distance", "median bp distance", "{:.1f}"),
    ("best_distance", "best", "{:.0f}"),
    ("unique", "unique", "{:.2f}"),
    ("diversity", "diversity", "{:.2f}"),
    ("cpu_s_per_design", "CPU s / design", "{:.3f}"),
]
STABILITY_COLUMNS: list[harness.Column] = [
    ("method", "method", None),
    ("folds_per_design", "folds / design", "{:.0f}"),
    ("median", "median -MFE/nt", "{:.3f}"),
    ("p90", "p90", "{:.3f}"),
    ("lowest_mfe_per_nt", "lowest MFE/nt", "{:.3f}"),
    ("gc", "GC", "{:.2f}"),
    ("unique", "unique", "{:.2f}"),
    ("diversity", "diversity", "{:.2f}"),
    ("cpu_s_per_design", "CPU s / design", "{:.3f}"),
]


def plot(curves: dict, markers: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    styles = {"SVDD-PM": "s", "SVDD-PM 4M, every 4": "D", "SMC": "^", "beam": "v", "RNAinverse": "*"}
    for ax, name in zip(axes.ravel(), names):
        ns, med = zip(*curves[name])
        ax.plot(ns, med, "-o", markersize=3, color="0.5", label="best-of-N")
        for method, (x, y) in markers[name].items():
            ax.plot([x], [y], styles.get(method, "x"), markersize=8, label=method)
        ax.set_xscale("log")
        ax.set_title(f"{name} ({len(TARGETS[name].structure) if name in TARGETS else STABILITY_LENGTH} nt)")
        ax.set_xlabel("folding calls per design")
        ax.set_ylabel("median bp distance" if name in TARGETS else "median -MFE/nt")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(record: dict, out: Path) -> None:
    """The plot and the Markdown page from a results record (``OUT.json``)."""
    plot(record["curves"], record["markers"], out.with_suffix(".png"))
    text = render(record)
    out.with_suffix(".md").write_text(text)
    print(text)


def summarise(sections: list[dict]) -> list[dict]:
    """Per structure target: SVDD-PM's folds, matched best-of-N, and each method's row."""
    summary = []
    for section in sections:
        if section["target"] == "stability":
            continue
        rows = section["rows"]
        svdd = next(r for r in rows if r["method"] == "SVDD-PM")
        summary.append(
            {
                "target": section["target"],
                "L": section["length"],
                "pairs": TARGETS[section["target"]].pairs,
                "folds": svdd["folds_per_design"],
                "bon": svdd["matched_best_of_n"],
                **{k: next((r for r in rows if r["method"] == k), None) for k in (*GUIDED, "RNAinverse")},
            }
        )
    return summary


def cell(row: dict | None, what: str) -> str:
    if row is None:
        return ""
    if what == "pair":
        return f"{row['solved']:.2f} / {row['median_distance']:.1f}"
    return format(row[what], ".3f")


def reading(sections: list[dict], summary: list[dict], m: int) -> list[str]:
    """What the tables say, computed from them (so a rerun keeps the text true)."""
    k = len(summary)
    by_target = {sec["target"]: {r["method"]: r for r in sec["rows"]} for sec in sections}
    lines = ["", "## Reading", ""]
    if k:

        def med(row: dict) -> float:
            return row["median_distance"]

        svdd_vs_bon = [med(s["SVDD-PM"]) - med(s["bon"]) for s in summary]
        every_vs_bon = [med(s["SVDD-PM 4M, every 4"]) - med(s["bon"]) for s in summary]
        every_vs_svdd = [med(s["SVDD-PM 4M, every 4"]) - med(s["SVDD-PM"]) for s in summary]
        svdd_vs_m = [med(s["SVDD-PM"]) - med(by_target[s["target"]][f"best-of-{m}"]) for s in summary]
        inv = [s["RNAinverse"] for s in summary]
        solved_runs = sum(s[name]["solved"] > 0 for s in summary for name in GUIDED) + sum(
            s["bon"]["solved"] > 0 for s in summary
        )
        lines += [
            f"* **RNAinverse** solved every design on {sum(r['solved'] == 1 for r in inv)} of {k} targets "
            f"(mean solved fraction {np.mean([r['solved'] for r in inv]):.2f}), with "
            f"{_span([r['restarts_mean'] for r in inv], '.2f', sign=False)} restarts per design on average and "
            f"{_span([r['folds_per_design'] for r in inv], '.0f', sign=False)} fold-equivalents of CPU time "
            "(the samplers spent about M x T folds). It is a local search that mutates paired positions "
            "together and folds substructures; the samplers only propose from a prior that knows nothing "
            "of pairing. "
            + (
                "No sampler (best-of-N, SVDD-PM, SMC, beam) solved a single design at these budgets."
                if solved_runs == 0
                else f"Sampler runs with at least one solved design: {solved_runs}."
            ),
            f"* **SVDD-PM against best-of-N at equal folding calls** (structure targets): its median distance "
            f"is {_span(svdd_vs_bon)} bp from best-of-N's (positive = SVDD-PM worse; worse on "
            f"{sum(d > 0 for d in svdd_vs_bon)} of {k}, better on {sum(d < 0 for d in svdd_vs_bon)}). At equal "
            f"M, the paper's comparison, it is {_span(svdd_vs_m)} bp from best-of-{m} (better on "
            f"{sum(d < 0 for d in svdd_vs_m)} of {k}). The bp-distance reward has a plateau: a sequence that "
            "folds into nothing scores -(target pairs), better than a typical random sequence, so a value "
            "that scores partial designs favours states that form no wrong pair, and a helix shows in the "
            "value only once most of it is revealed.",
            f"* **SVDD-PM with 4M candidates selecting every 4th step** (the same nominal calls, M x T): "
            f"{_span(every_vs_svdd)} bp against SVDD-PM every step (better on {sum(d < 0 for d in every_vs_svdd)} "
            f"of {k}), {_span(every_vs_bon)} bp against best-of-N at SVDD-PM's calls (better on "
            f"{sum(d < 0 for d in every_vs_bon)} of {k}; it spends a few more calls than M x T).",
        ]
        if all(s.get("refine") for s in summary):
            own = [med(s["refine"]) - med(s["refine"]["matched_best_of_n"]) for s in summary]
            folds = _span([s["refine"]["folds_per_design"] for s in summary], ".0f", sign=False)
            lines.append(
                f"* **Refinement of elites** (the best of M pretrained designs, then rounds of M copies with about 5% "
                f"of positions redrawn, keeping the best; {folds} "
                f"folds per design): {_span(own)} bp against best-of-N at its own folding calls (better on "
                f"{sum(d < 0 for d in own)} of {k}, worse on {sum(d > 0 for d in own)}), with the diversity of "
                f"independent designs ({np.mean([s['refine']['diversity'] for s in summary]):.2f}); solved "
                f"fractions {_span([s['refine']['solved'] for s in summary], '.2f', sign=False)}. A hill climb over "
                "mutations that the prior proposes: far behind RNAinverse, which moves paired bases together."
            )
        beam_better = sum(med(s["beam"]) < med(s["SVDD-PM"]) for s in summary)
        smc_better = sum(med(s["SMC"]) < med(s["SVDD-PM"]) for s in summary)
        lines.append(
            f"* **Beam and SMC** have lower median distances than SVDD-PM on {beam_better} and {smc_better} "
            f"of {k} targets, but their designs are near-copies of a few (mean diversity "
            f"{np.mean([s['beam']['diversity'] for s in summary]):.2f} and "
            f"{np.mean([s['SMC']['diversity'] for s in summary]):.2f} against "
            f"{np.mean([s['SVDD-PM']['diversity'] for s in summary]):.2f} for SVDD-PM): they optimise one "
            "batch's population, not independent designs."
        )
    stab = by_target.get("stability")
    if stab and "SVDD-PM" in stab:
        sv = stab["SVDD-PM"]
        bn = sv["matched_best_of_n"]
        ev = stab.get("SVDD-PM 4M, every 4")
        text = (
            f"* **Stability** (50 nt): at {sv['folds_per_design']:.0f} folds per design SVDD-PM's median -MFE/nt "
            f"is {sv['median']:.3f} against {bn['median']:.3f} for {bn['method']} at the same calls; p90 "
            f"{sv['p90']:.3f} vs {bn['p90']:.3f}; lowest MFE {sv['lowest_mfe_per_nt']:.3f} vs "
            f"{bn['lowest_mfe_per_nt']:.3f} kcal/mol/nt"
        )
        if ev is not None:
            bev = ev["matched_best_of_n"]
            text += (
                f". With 4M candidates every 4th step: median {ev['median']:.3f} at "
                f"{ev['folds_per_design']:.0f} folds ({bev['method']}: {bev['median']:.3f})"
            )
        ref = stab.get("refine")
        if ref is not None:
            bref = ref["matched_best_of_n"]
            text += (
                f". Refinement of elites: median {ref['median']:.3f} at {ref['folds_per_design']:.0f} folds "
                f"({bref['method']}: {bref['median']:.3f}), diversity {ref['diversity']:.2f}"
            )
        smc = stab.get("SMC")
        if smc is not None:
            text += (
                f". SMC's median {smc['median']:.3f} comes from a population that collapsed (unique "
                f"{smc['unique']:.2f}, diversity {smc['diversity']:.2f}, GC {smc['gc']:.2f})"
            )
        lines.append(text + ".")
    return lines if len(lines) > 3 else []


def _span(values, fmt: str = ".1f", sign: bool = True) -> str:
    spec = ("+" if sign else "") + fmt
    lo, hi = min(values), max(values)
    return format(lo, spec) if lo == hi else f"{format(lo, spec)} to {format(hi, spec)}"


def ablation(sections: list[dict]) -> list[str]:
    """SVDD-PM with each completion of the prior (the value), on the ablation targets."""
    names = ["SVDD-PM", *ABLATION]
    rows = []
    for section in sections:
        target, by_name = section["target"], {r["method"]: r for r in section["rows"]}
        if not all(k in by_name for k in names):
            continue
        key = "median_distance" if target != "stability" else "median"
        label = "median bp distance" if target != "stability" else "median -MFE/nt"
        cells = [f"{by_name[k][key]:.3g} ({by_name[k]['folds_per_design']:.0f})" for k in names]
        rows.append(f"| {target} ({label}) | " + " | ".join(cells) + " |")
    if not rows:
        return []
    heads = ["shared (default)", *[k.split("(")[1].rstrip(")") for k in ABLATION]]
    return [
        "",
        "## Value ablation: how predict_x0 completes masked positions",
        "",
        "SVDD-PM, M as above, median reward of the designs (folds per design in brackets). `shared`: one "
        "uniform draw per position and step, common to all states scored at that step; `sample`: an "
        "independent uniform draw per state (seeded by its tokens); `unpaired`: masked positions as N "
        "(pair with nothing); `argmax`: the base MaskedDiffusion fill, all A.",
        "",
        "| target | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
        *rows,
    ]


def render(record: dict) -> str:
    n, m, sections = record["samples"], record["m"], record["sections"]
    summary = summarise(sections)
    lines = [
        "# RNA: SVDD and its peers on the uniform RNA prior, at equal folding calls",
        "",
        f"Made by `python jobs/rna_results.py` ({n} designs per method and target, seed {record['seed']}, "
        f"M = {m}, T = L // 2 reverse steps; engine local backend with the run-wide reward cache; "
        f"{record['workers']} runs at a time on 2 CPU cores shared with other work, load average "
        f"{record['load_average']:.1f} at the end; total {record['wall_s']:.0f} s wall). Raw numbers: "
        "`docs/rna_results.json`.",
        "",
        "**The prior** (`svdd_ray/rna/prior.py`) is a masked diffusion whose clean sequences are i.i.d. "
        "uniform over ACGU: exactly the distribution of the random 5'UTR library the paper's RNA prior "
        "was trained on (no natural RNA corpus ships in an installable package). SVDD-PM's value completes "
        "the masked positions of a state with an exact draw from the prior's posterior (uniform bases), "
        "shared by all states scored at one step (`completion: shared`, common random numbers), and folds "
        "the completed sequence: a one-sample estimate of E[r(x0) | x_t]. The ablation at the end compares "
        "the other completions.",
        "",
        "**Reward and cost.** `rna_structure`: minus the base-pair distance of the MFE structure "
        "(ViennaRNA 2.x, Turner 2004, 37 °C) to the target; solved = distance 0. Cost = folding calls "
        "per final design = the engine's reward calls after the cache / designs. best-of-N is read from one "
        f"pool of `{n} x M x T` pretrained sequences (nested N); `best-of-N (matched)` is best-of-N at "
        "the N nearest to SVDD-PM's own folds per design. RNAinverse (`RNA.inverse_fold`, "
        "an adaptive walk that folds substructures in C: its folds cannot be counted) restarts from "
        "uniform random starts until solved or until its CPU time reaches that of M x T full folds of a "
        "random sequence of the target's length (measured per target on this machine; the first "
        "restart always finishes); its `folds / design` column is CPU time / (one fold's CPU time), "
        "the mean over designs, so the comparison unit there is CPU time, not calls. "
        "SMC: alpha = 1 bp for structures, 0.02 kcal/mol/nt for stability; its designs are draws "
        "from one weighted particle set per batch of 16, so they repeat (see `unique`). "
        "`diversity` = mean pairwise Hamming distance / L (0.75 for uniform random sequences).",
        "",
        "## Summary: structure targets",
        "",
        "Solved fraction / median bp distance per target; best-of-N at SVDD-PM's folding calls; "
        "RNAinverse at equal CPU time.",
        "",
        "| target | L | pairs | folds / design (SVDD-PM) | best-of-N (matched) | "
        + " | ".join(GUIDED)
        + " | RNAinverse |",
        "|" + "---|" * (6 + len(GUIDED)),
    ]
    for s in summary:
        lines.append(
            f"| {s['target']} | {s['L']} | {s['pairs']} | {s['folds']:.0f} | {cell(s['bon'], 'pair')} | "
            + " | ".join(cell(s[k], "pair") for k in (*GUIDED, "RNAinverse"))
            + " |"
        )
    for section in sections:
        target, length, steps, rows = section["target"], section["length"], section["steps"], section["rows"]
        structure = target != "stability"
        lines += ["", f"## {target} ({length} nt, T = {steps})" if structure else "", ""]
        if structure:
            lines += [f"`{TARGETS[target].structure}` — {TARGETS[target].motif}.", ""]
        else:
            lines[-2] = f"## Stability (`configs/rna_stability.yaml`, {length} nt, T = {steps})"
            lines += [
                "Reward -MFE / L (kcal/mol/nt); lowest MFE/nt = the most stable design of the method.",
                "",
            ]
        table_rows = []
        for row in rows:
            table_rows.append(row)
            matched = row.get("matched_best_of_n")
            if matched is not None and row["method"] in ("SVDD-PM",):
                table_rows.append({**matched, "method": f"{matched['method']} (matched to SVDD-PM)"})
        lines.append(harness.markdown(pd.DataFrame(table_rows), STRUCTURE_COLUMNS if structure else STABILITY_COLUMNS))
        inv = next((r for r in rows if r["method"] == "RNAinverse"), None)
        if inv is not None:
            lines += [
                "",
                f"One fold of a random {length}-nt sequence: {inv['t_fold_ms']:.2f} ms CPU "
                f"({1e3 / inv['t_fold_ms']:.0f} folds/s on one core); RNAinverse used "
                f"{inv['restarts_mean']:.2f} restarts per design on average.",
            ]
    lines += reading(sections, summary, m)
    lines += ablation(sections)
    lines += [
        "",
        "![median distance vs folding calls](rna_results.png)",
        "",
        "Median bp distance (stability: median -MFE/nt) against folding calls per design; the grey line is "
        "best-of-N read from the pool. RNAinverse's x is CPU time in units of one full fold.",
        "",
    ]
    return "\n".join(lines) + "\n"

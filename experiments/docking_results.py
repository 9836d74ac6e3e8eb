"""Docking tables at equal seeds: methods and value plans against the docking calls they spend.

Every run goes through ``svdd_ray.engine.run`` from the target's config (``CONFIGS``) with the
overrides below (seed 0, batches of 8, 4 in flight, two docking actors, the denoiser on 0 CPUs, no
persistent cache, so each run counts the docking calls it made itself); a directory that already
holds a complete run is reused and an interrupted one resumes where it stopped (the run directories
under ``results/docking`` are committed, so a later session or a bigger machine finishes them, and
``--report-only`` makes the tables from whatever batches exist). Methods:

- ``pool``: ``POOL`` x samples pretrained molecules in batches of ``POOL``; the first of each batch is
  ``pretrained`` and the best of its first N is best-of-N (N = 2, 4, 8: nested, as the same seeds give).
- ``smc``: SMC / FK-steering, M = 4 particles' proposals, alpha 1 (kcal/mol).
- ``svdd``: SVDD-PM, M = 4, alpha 0; every candidate's x0-prediction gets the full dock.
- ``plan``: SVDD-PM, M = 4, alpha 0, with a two-fidelity value plan: a capped dock (Vina
  ``max_evals`` = ``--fast-evals``, the component ``docking_fast``) values the states of the first
  steps, and the full dock (``docking``) the last step's candidates, which are final molecules.
- ``surrogate``: SVDD-PM, M = 4, alpha 0, with that surrogate (the reward ``surrogate``, free)
  valuing the states of every step but the last and the full dock the last step's candidates.
- ``late``: the same with the full dock from ``LATE_FULL`` of the steps on (the last 7 of 14).
- ``prescreen_small``: the same with a surrogate fitted on the pool's first ``SMALL_SURROGATE`` docked
  molecules only (``jobs/fit_surrogate.py --first 64``): what the economy is with a cheap fit.
- ``prescreen``: best-of-``PRESCREEN_N`` pre-screened by a surrogate: ``PRESCREEN_N`` pretrained
  molecules per chain, ranked by a Morgan-fingerprint ridge fitted offline on the target's pool
  (``checkpoints/surrogates/<target>_morgan_ridge.npz``, made by ``jobs/fit_surrogate.py --runs
  results/docking/<target>_pool``); only its top ``PRESCREEN_DOCKED`` per chain are docked and the
  best of those is kept. The surrogate's one-off training docks are reported beside the table.
- ``prescreen_wide``: the same 4 docks per chain, from ``PRESCREEN_WIDE`` (128) pretrained molecules.
- ``screened_refine``: refinement of elites under the same surrogate: ``REFINE_INIT`` (96) pretrained
  molecules per chain, the surrogate's top 3 docked, the best re-noised into ``REFINE_COPIES`` (32)
  copies (the last 60% of its steps drawn again), the surrogate's top 1 docked, the better kept.

Costs per final molecule: docking calls per component (after the per-run cache), docking
CPU-seconds estimated as calls x the seconds per call of each fidelity (measured here on
``--cost-sample`` of the run's final molecules, one core, in process), and the run's wall time on
this machine. Naturalness: the molecule report's columns (validity, uniqueness, novelty against
MOSES train, internal diversity, FCD/Test, Filters, SA median, aromatic share), and the median heavy
atoms and ligand efficiency (score per heavy atom), since Vina's score grows with ligand size.
:func:`plan` is a target's :class:`~experiments.harness.Plan`, :func:`section` its table from the runs,
:func:`render` the page; ``jobs/docking_results.py`` is the command line (run it from anywhere: paths in the
configs are relative to the repository root).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import harness
from experiments.harness import Plan, best_of_pool, load_runs
from svdd_ray import stats
from svdd_ray.report import load_run, markdown_table

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"PARP1": "molecule_docking_parp1.yaml", "JAK2": "molecule_docking_jak2.yaml"}
POOL = 8
M = 4
SMC_ALPHA = 1.0
PRESCREEN_N = 32
PRESCREEN_DOCKED = 4
PRESCREEN_WIDE = 128  # "prescreen_wide": the same 4 docks, picked from 128 pretrained molecules per chain
REFINE_INIT, REFINE_COPIES = 96, 32  # "screened_refine": 3 docks on the elites, 1 on a round of 32 copies
SMALL_SURROGATE = 64  # "prescreen_small": the surrogate fitted on the pool's first 64 docked molecules only
LATE_FULL = 0.55  # "late": the full dock from this share of the steps on (the last 7 of 14)
PLANS = (
    "plan",
    f"prescreened best-of-{PRESCREEN_N}",
    "SVDD-PM, surrogate value",
    "SVDD-PM, surrogate then full dock",
    f"prescreened best-of-{PRESCREEN_N}, surrogate of {SMALL_SURROGATE} docks",
    f"prescreened best-of-{PRESCREEN_WIDE}",
    f"prescreened refine {REFINE_INIT} 1 M={REFINE_COPIES}",
)
COMMON = [
    "run.batch_size=8",
    "run.trace=false",
    "reward.cache_file=null",
    "reward.components.0.actors=2",
    "resources.denoiser_num_cpus=0",
    "resources.max_inflight_batches=4",
    "reward.components.0.prescreen=null",  # the shipped configs pre-screen; each method here sets its own
]


def dock_options(target: str, max_evals: int = 0) -> dict:
    return {"target": target, "exhaustiveness": 1, "seed": 0, "timeout_s": 120, "max_evals": max_evals}


def plan_components(target: str, fast_evals: int) -> list[dict]:
    """The capped dock for the states of every step but the last, the full dock for the final candidates."""
    common = {"target": "docking", "actors": 2, "num_cpus": 0.5, "timeout_s": 600}
    return [
        {**common, "name": "docking_fast", "options": dock_options(target, fast_evals), "steps": [0.0, 0.95]},
        {**common, "name": "docking", "options": dock_options(target), "steps": [0.95, 1.0], "chunk_size": 2},
    ]


def surrogate_path(target: str, first: int | None = None) -> str:
    """The target's frozen docking surrogate (fitted on the pool's ``first`` molecules, else all), relative to the
    repository root."""
    return f"checkpoints/surrogates/{target}_morgan_ridge{'' if first is None else f'_{first}'}.npz"


def surrogate_plan_components(target: str, full_from: float = 0.95) -> list[dict]:
    """The frozen surrogate values the states of the steps before ``full_from``, the full dock the rest (0.95: only
    the final candidates)."""
    surrogate = {"surrogate": "morgan_ridge", "weights": surrogate_path(target)}
    return [
        {
            "target": "surrogate",
            "name": "docking_surrogate",
            "options": surrogate,
            "steps": [0.0, full_from],
            "num_cpus": 0,
        },
        {
            **{"target": "docking", "actors": 2, "num_cpus": 0.5, "timeout_s": 600, "chunk_size": 2},
            **{"name": "docking", "options": dock_options(target), "steps": [full_from, 1.0]},
        },
    ]


def prescreen_options(target: str, first: int | None = None, keep: float = PRESCREEN_DOCKED / PRESCREEN_N) -> dict:
    """Dock only the surrogate's top ``keep`` share of each chain's final candidates (default: 4 of 32)."""
    return {
        "surrogate": {"target": "morgan_ridge", "options": {"weights": surrogate_path(target, first)}},
        "keep": keep,
        "explore": 0.0,
        "min_scored": 0,
        "final": True,
    }


def methods(target: str, fast_evals: int) -> dict[str, list[str]]:
    """Method -> its config overrides (after :data:`COMMON`; the plan adds seed and sizes), in table order."""
    svdd = ["run.method=svdd", f"run.num_candidates={M}", "run.alpha=0.0"]
    best_of_32 = ["run.method=best_of_n", f"run.num_candidates={PRESCREEN_N}"]
    components = {
        "plan": plan_components(target, fast_evals),
        "surrogate": surrogate_plan_components(target),
        "late": surrogate_plan_components(target, LATE_FULL),
    }
    screens = {"prescreen": prescreen_options(target), "prescreen_small": prescreen_options(target, SMALL_SURROGATE)}
    wide = prescreen_options(target, keep=PRESCREEN_DOCKED / PRESCREEN_WIDE)
    refine = prescreen_options(target, keep=1 / REFINE_COPIES)
    options = {"init": REFINE_INIT, "rounds": 1, "renoise_to": 0.6}
    table = {
        "pool": ["run.method=pretrained", "run.num_candidates=1", f"run.batch_size={POOL}"],
        "smc": ["run.method=smc", f"run.num_candidates={M}", f"run.alpha={SMC_ALPHA}"],
        "svdd": svdd,
        "prescreen_wide": ["run.method=best_of_n", f"run.num_candidates={PRESCREEN_WIDE}", _screen(wide)],
        "screened_refine": [
            "run.method=refine",
            f"run.num_candidates={REFINE_COPIES}",
            f"run.options={json.dumps(options)}",
            _screen(refine),
        ],
        **{name: [*best_of_32, _screen(screen)] for name, screen in screens.items()},
        **{name: [*svdd, f"reward.components={json.dumps(parts)}"] for name, parts in components.items()},
    }
    return {method: table[method] for method in METHODS}


def _screen(options: dict) -> str:
    return f"reward.components.0.prescreen={json.dumps(options)}"


def plan(target: str, samples: int, fast_evals: int, runs_dir: Path, chosen: list[str] | None = None) -> Plan:
    """The target's runs ``runs_dir/<target>_<method>`` (seed 0, the configs' backend); the pool holds
    ``POOL`` x samples."""
    config = REPO / "configs" / CONFIGS[target]
    table = methods(target, fast_evals)
    sizes = {"pool": samples * POOL}
    return Plan(config, table, [0], samples, runs_dir, COMMON, chosen, sizes, f"{target}_{{slug}}", backend=None)


def calls_per_molecule(frame: pd.DataFrame) -> dict[str, float]:
    """Docking calls per final molecule, per component (the ``calls_<name>`` columns, one value per batch)."""
    per_batch = frame.groupby("batch").first()
    calls = {
        col.removeprefix("calls_"): per_batch[col].sum() / len(frame) for col in per_batch if col.startswith("calls_")
    }
    return calls or {"docking": per_batch["reward_calls"].sum() / len(frame)}  # runs from before the columns


def pool_rows(frame: pd.DataFrame, totals: dict) -> list[dict]:
    """Pretrained and best-of-N (N = 2, 4, 8) from the pool: the first N of each batch of ``POOL``."""
    rows = []
    for n in (1, 2, 4, 8):
        chosen, calls = best_of_pool(frame, POOL, n)  # calls: the run-wide cache docks distinct molecules
        rows.append(
            {
                "method": "pretrained" if n == 1 else f"best-of-{n}",
                "M": n,
                "frame": chosen,
                "calls": {"docking": calls},
                "wall_s": totals.get("wall_time_s", np.nan) * n / POOL / len(chosen),
            }
        )
    return rows


def seconds_per_call(target: str, molecules: list[str], fast_evals: int) -> dict[str, float]:
    """Mean seconds of one full and one capped dock of ``molecules`` (one core, in process, warmed, no cache)."""
    from svdd_ray.chem.docking import DockingReward, timed_docking

    out = {}
    for name, cap in (("docking", 0), ("docking_fast", fast_evals)):
        with DockingReward(**dock_options(target, cap), cache=False) as reward:
            out[name] = timed_docking(reward, molecules)[0]
    return out


def size_columns(frame: pd.DataFrame) -> dict[str, float]:
    """Median heavy atoms and ligand efficiency (score / heavy atoms) of the docked molecules."""
    from svdd_ray.chem.rewards import to_mol

    scored = frame[np.isfinite(frame["reward"])]
    atoms = np.array([to_mol(s).GetNumHeavyAtoms() for s in scored["object"]], dtype=np.float64)
    if not len(atoms):
        return {"heavy atoms": np.nan, "LE": np.nan}
    return {"heavy atoms": float(np.median(atoms)), "LE": float(np.median(scored["reward"].to_numpy() / atoms))}


def summarize(rows: list[dict], seconds: dict[str, float], reference) -> pd.DataFrame:
    from svdd_ray.chem.domain import MoleculeDomain

    domain = MoleculeDomain()
    table = []
    for row in rows:
        frame, calls = row["frame"], row["calls"]
        valid = frame.loc[np.isfinite(frame["reward"]), "reward"]
        metrics = domain.metrics(frame["object"].tolist(), reference)
        table.append(
            {
                "method": row["method"],
                "M": row["M"],
                "n": len(frame),
                "median": valid.median(),
                "median 95% CI": stats.median_interval_text(valid.to_numpy()),
                "p90": valid.quantile(0.9),
                "full docks": calls.get("docking", 0.0),
                "capped docks": calls.get("docking_fast", 0.0),
                "docking CPU-s (est.)": sum(seconds.get(name, 0.0) * c for name, c in calls.items()),  # surrogate: 0
                "wall s": row["wall_s"],
                **size_columns(frame),
                **{key: metrics.get(key) for key in MoleculeDomain.NATURALNESS},
            }
        )
    return pd.DataFrame(table)


def goal_line(summary: pd.DataFrame, plan_name: str) -> str:
    """The issue's docking goal for one plan: its median >= SVDD-PM's with <= 25% of its docking per molecule,
    judged both in full docks and in estimated docking CPU-seconds (capped docks included)."""
    by = summary.set_index("method")
    if not {"SVDD-PM", plan_name} <= set(by.index):
        return ""
    svdd, plan = by.loc["SVDD-PM"], by.loc[plan_name]
    calls = plan["full docks"] / svdd["full docks"]
    cpu = plan["docking CPU-s (est.)"] / svdd["docking CPU-s (est.)"]
    reward = plan["median"] >= svdd["median"]
    verdict = {
        (True, True, True): "met",
        (True, True, False): "met in full docks, not in CPU-seconds",
    }.get((bool(reward), bool(calls <= 0.25), bool(cpu <= 0.25)), "not met")
    sizes = f" (n = {int(plan['n'])} and {int(svdd['n'])})" if "n" in summary else ""
    return (
        f"Docking goal, {plan_name} ({verdict}): its median {plan['median']:.2f} against SVDD-PM's "
        f"{svdd['median']:.2f}{sizes}, with {calls:.0%} of its full docks per molecule "
        f"({plan['full docks']:.1f} vs {svdd['full docks']:.1f}) and {cpu:.0%} of its estimated docking "
        "CPU-seconds (capped docks included)."
    )


def surrogate_line(
    target: str, frames: dict[str, pd.DataFrame], summary: pd.DataFrame, first: int | None = None
) -> str:
    """A surrogate's one-off fitting cost, what it means per molecule for the best-of-N it pre-screens, and its
    training molecules among the outputs of each method that uses it (``frames``: method name -> molecules)."""
    path = surrogate_path(target, first)
    plan = PLANS[1] if first is None else PLANS[4]
    with np.load(REPO / path) as data:
        meta = json.loads(str(data["meta"]))
    quality = (
        f"Spearman {meta['held_out_spearman']:.2f} on the other {meta['held_out_rows']} molecules"
        if "held_out_spearman" in meta
        else f"5-fold Spearman {meta['cv_spearman']:.2f}"
    )
    seen = {obj for run in meta["runs"] for obj in load_run(REPO / run).samples["object"]}
    overlap = ", ".join(f"{name} {int(f['object'].isin(seen).sum())} of {len(f)}" for name, f in frames.items())
    text = (
        f"The surrogate `{path}` (`jobs/fit_surrogate.py`) was fitted on {meta['rows']} docked "
        f"molecules of {', '.join(f'`{r}`' for r in meta['runs'])} ({quality}), "
        f"a one-off cost per target that the per-molecule columns leave out (here reused from the pool run). "
        f"Final molecules that are among its training molecules: {overlap}."
    )
    by = summary.set_index("method")
    if {"SVDD-PM", plan} <= set(by.index):
        budget = 0.25 * by.loc["SVDD-PM", "full docks"] - by.loc[plan, "full docks"]
        n = int(by.loc[plan, "n"])
        total = by.loc[plan, "full docks"] + meta["rows"] / n
        text += (
            f" Counting its fitting docks spread over these {n} molecules, {plan} spends {total:.1f} full docks "
            f"per molecule ({total / by.loc['SVDD-PM', 'full docks']:.0%} of SVDD-PM's); "
            + (
                f"it stays within 25% from {int(np.ceil(meta['rows'] / budget))} molecules per target on."
                if budget > 0
                else "it never gets within 25%."
            )
        )
    return text


def plot(summaries: dict[str, pd.DataFrame], path: Path) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from svdd_ray.report import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(summaries), figsize=(6 * len(summaries), 4.5), squeeze=False)
    for ax, (target, summary) in zip(axes[0], summaries.items()):
        cost, median = summary["docking CPU-s (est.)"], summary["median"]
        pool = summary["method"].str.startswith(("pretrained", "best-of"))
        ax.plot(cost[pool], median[pool], "o-", color="tab:blue", label="pretrained / best-of-N")
        names = ["SVDD-PM", "SMC", *PLANS]
        colors = dict(zip(names, ["red", "green", "orange", "purple", "brown", "pink", "olive", "cyan", "gray"]))
        for style, method in zip("s^Dvp*XPh", colors):
            part = summary["method"] == method
            if part.any():
                color = f"tab:{colors[method]}"
                ax.plot(cost[part], median[part], style, color=color, markersize=8, label=method)
        for _, r in summary.iterrows():
            ax.annotate(
                r["method"],
                (r["docking CPU-s (est.)"], r["median"]),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("docking CPU-seconds per final molecule (estimated, log scale)")
        ax.set_ylabel(f"median -Vina affinity, {target} (kcal/mol)")
        ax.set_title(target)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


METHOD_NAMES = {"smc": "SMC", "svdd": "SVDD-PM", "plan": PLANS[0], "prescreen": PLANS[1], "surrogate": PLANS[2]}
METHOD_NAMES.update(late=PLANS[3], prescreen_small=PLANS[4], prescreen_wide=PLANS[5], screened_refine=PLANS[6])
SURROGATE_OF = {"prescreen": None, "surrogate": None, "late": None, "prescreen_small": SMALL_SURROGATE}
SURROGATE_OF.update(prescreen_wide=None, screened_refine=None)
#: Candidates per step (per round for refinement; N for best-of-N) where it is not ``M``: the paper's axis.
CANDIDATES = {"prescreen": PRESCREEN_N, "prescreen_small": PRESCREEN_N, "prescreen_wide": PRESCREEN_WIDE}
CANDIDATES["screened_refine"] = REFINE_COPIES
METHODS = ["pool", "plan", "prescreen", "prescreen_small", "surrogate", "late", "smc", "svdd"]
METHODS += ["prescreen_wide", "screened_refine"]


def section(the_plan: Plan, target: str, fast_evals: int, cost_sample: int, reference) -> tuple[pd.DataFrame, list]:
    """The target's table, goal and surrogate lines from its runs as they are (an unfinished run: its batches);
    the seconds per call are measured on ``cost_sample`` molecules of each run."""
    rows, timed, surrogate_frames = [], [], {}
    for method in the_plan.labels:
        runs = load_runs(the_plan, method)
        if not runs:
            continue  # a run not started yet
        frame, totals = runs[0].samples, harness.totals(runs[0].path)
        timed += frame["object"].head(cost_sample).tolist()
        if method == "pool":
            rows += pool_rows(frame, totals)
            continue
        calls = calls_per_molecule(frame)
        wall = totals.get("wall_time_s", np.nan) / len(frame)
        size = CANDIDATES.get(method, M)
        rows.append({"method": METHOD_NAMES[method], "M": size, "frame": frame, "calls": calls, "wall_s": wall})
        if method in SURROGATE_OF:
            surrogate_frames.setdefault(SURROGATE_OF[method], {})[METHOD_NAMES[method]] = frame
    seconds = seconds_per_call(target, [s for s in timed if isinstance(s, str)], fast_evals)
    summary = summarize(rows, seconds, reference)
    notes = [surrogate_line(target, frames, summary, first) for first, frames in surrogate_frames.items()]
    return summary, [
        f"## {target} (`configs/{CONFIGS[target]}`)",
        "",
        f"Seconds per call on this machine (one core, {len(timed)} of the runs' molecules): full dock "
        f"{seconds['docking']:.2f} s, capped dock (max_evals {fast_evals}) {seconds['docking_fast']:.2f} s: a "
        f"docking actor (one core) does {60 / seconds['docking']:.0f} full or {60 / seconds['docking_fast']:.0f} "
        "capped docks a minute.",
        "",
        markdown_table(summary),
        "",
        *[line for text in [*(goal_line(summary, plan) for plan in PLANS), *notes] if text for line in (text, "")],
    ]


def render(summaries: dict[str, pd.DataFrame], sections: list[str], samples: int, docs: Path) -> str:
    """Write ``DOCS.md`` (the header, then each target's section) and the front plot ``DOCS.png``."""
    plot(summaries, docs.with_suffix(".png"))
    header = [
        "# Docking: methods and value plans at equal seeds",
        "",
        "Made by `python jobs/docking_results.py` (see its docstring for the runs). Prior `moses_smiles` "
        f"(left-to-right SMILES, 14 reverse steps), {samples} final molecules per method (`n`: fewer where a run "
        "was unfinished; its finished batches count), seed 0. "
        "Reward: minus the AutoDock Vina 1.2 affinity (kcal/mol, higher is better) in dockstring's receptor and "
        "30 Å box, exhaustiveness 1, one pose, ligands from RDKit ETKDGv3 + MMFF94 and Meeko, no protonation "
        "model. `full docks` and `capped docks` are docking calls per final molecule after the run's own cache; "
        "`median 95% CI`: bootstrap interval of the median; `docking CPU-s (est.)` = calls x seconds per call "
        "of each fidelity; `wall s` per final molecule on "
        "this 2-core machine (two docking actors; runs shared the cores with each other: upper bounds). "
        "Naturalness columns as in `docs/molecule_results.md`; FCD of "
        f"{samples} molecules sits far above its 10,000-sample value: compare methods with each other.",
        "",
        f"![docking front]({docs.with_suffix('.png').name})",
        "",
    ]
    text = "\n".join(header + sections)
    docs.with_suffix(".md").write_text(text + "\n")
    return text

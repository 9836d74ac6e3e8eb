"""Molecules: reward against reward calls per molecule on the shipped MOSES SMILES prior (QED, SA).

Every method is a budget of reward calls per molecule (4, 8, 16, 32; :func:`methods`) on
``configs/molecule_<reward>.yaml``: best-of-N, refinement of elites, best-of-N pre-screened by a
frozen surrogate, refinement seeded by pre-screened elites, and SVDD-PM / SMC on the paper's axis
(M candidates per step, whatever the calls). :func:`fit_surrogate` makes each reward's frozen
surrogate from a pool of pretrained molecules of another seed (a one-off cost, reported beside the
table); :func:`evaluate` pools each method's seeds and adds the MOSES metrics (validity, uniqueness,
novelty, internal diversity, FCD/Test, SNN/Test, Filters); :func:`render` writes the page and plot.
``jobs/molecule_front.py`` is the command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import harness
from experiments.harness import Plan, calls_per_sample, is_complete, load_runs, pooled_runs, run_plan

__all__ = ["REWARDS", "BUDGETS", "FAMILIES", "methods", "plan", "fit_surrogate", "evaluate", "render"]

REPO = Path(__file__).resolve().parents[1]
REWARDS = {"qed": "molecule_qed.yaml", "sa": "molecule_sa.yaml"}
BUDGETS = (4, 8, 16, 32)
#: Copies per refinement round and how far back they are re-noised (a share of the 14 steps; on the
#: left-to-right prior: the share of the string, from its end, that is drawn again).
REFINE_COPIES, RENOISE_TO = 4, 0.6
#: Pre-screening: each chain's candidates are ranked by the frozen surrogate and this share is scored.
SCREEN_KEEP = 0.25
#: The surrogate's pool: pretrained molecules of a seed no method uses.
POOL_SAMPLES, POOL_SEED = 512, 100
#: The hand-written reading of the tables starts here; :func:`render` keeps it.
NOTES = "\n## What the fronts say\n"


def surrogate_file(reward: str, runs_dir: Path) -> Path:
    return Path(runs_dir) / f"{reward}_surrogate.npz"


def _refine(init: int, rounds: int, copies: int = REFINE_COPIES) -> list[str]:
    options = f"{{init: {init}, rounds: {rounds}, renoise_to: {RENOISE_TO}}}"
    return ["run.method=refine", f"run.num_candidates={copies}", f"run.options={options}"]


def _screened(weights: Path) -> str:
    screen = f"{{target: morgan_ridge, options: {{weights: '{weights}'}}}}"
    return (
        f"reward.components.0.prescreen={{surrogate: {screen}, keep: {SCREEN_KEEP}, explore: 0.0, "
        "min_scored: 0, final: true}"
    )


def _entries(weights: Path) -> list[tuple[str, str, list[str]]]:
    """(family, label, overrides) of every method; ``weights`` is the pre-screened methods' frozen surrogate."""
    entries = [("pretrained", "pretrained", ["run.method=pretrained", "run.num_candidates=1"])]
    for b in BUDGETS:
        entries.append(("best-of-N", f"best-of-{b}", ["run.method=best_of_n", f"run.num_candidates={b}"]))
    for b in BUDGETS:  # half the calls on the elites, half on rounds of 4 copies (2 at 4 calls)
        k = min(REFINE_COPIES, b // 2)
        entries.append(
            ("refine, half on elites", f"refine {b // 2} {b // (2 * k)} M={k}", _refine(b // 2, b // (2 * k), k))
        )
    for b in BUDGETS:  # three quarters on the elites, one round of the rest
        entries.append(("refine, 3/4 on elites", f"refine {3 * b // 4} 1 M={b // 4}", _refine(3 * b // 4, 1, b // 4)))
    for b in BUDGETS:
        screened = ["run.method=best_of_n", f"run.num_candidates={4 * b}", _screened(weights)]
        entries.append(("screened best-of-N", f"screened best-of-{4 * b}", screened))
    for b in BUDGETS:  # three quarters on screened elites, one round of screened copies
        screened = [*_refine(3 * b, 1, b), _screened(weights)]
        entries.append(("screened refine", f"screened refine {3 * b} 1 M={b}", screened))
    entries += [
        ("SVDD-PM", "svdd M=2", ["run.method=svdd", "run.num_candidates=2", "run.alpha=0.0"]),
        ("SVDD-PM", "svdd M=2 alpha=0.03", ["run.method=svdd", "run.num_candidates=2", "run.alpha=0.03"]),
        ("SMC per design", "smc M=4 per design", [
            "run.method=smc", "run.num_candidates=4", "run.alpha=0.03", "run.options={population: design}",
        ]),
    ]  # fmt: skip
    return entries


def methods(weights: Path) -> dict[str, list[str]]:
    """Method label -> config overrides; ``weights`` is the frozen surrogate of the pre-screened methods.

    Budgets (reward calls per molecule, at most; repeats are cache hits): best-of-N pays N; ``refine N R M=k``
    the best of N pretrained, then R rounds of k re-noised copies: N + kR; pre-screened methods score
    the surrogate's top quarter of each chain's candidates, so screened best-of-4B pays B.
    """
    return {label: overrides for _, label, overrides in _entries(weights)}


#: Method label -> its family (one line of the front plot), in the table's order.
FAMILIES = {label: fam for fam, label, _ in _entries(Path("surrogate.npz"))}


def plan(
    reward: str,
    runs_dir: Path,
    seeds: Sequence[int] = (0, 1, 2),
    samples: int = 64,
    chosen: Sequence[str] | None = None,
) -> Plan:
    """The reward's plan: :func:`methods` on its config, run directories under ``runs_dir / reward``."""
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}: one of {', '.join(REWARDS)}")
    table = methods(surrogate_file(reward, runs_dir).resolve())
    common = ["run.trace=false", "run.batch_size=16"]
    return Plan(REPO / "configs" / REWARDS[reward], table, seeds, samples, Path(runs_dir) / reward, common, chosen)


def fit_surrogate(reward: str, runs_dir: Path, say: Callable[[str], None] = print) -> dict:
    """The reward's frozen Morgan-ridge surrogate, fitted on ``POOL_SAMPLES`` pretrained molecules of
    ``POOL_SEED`` (made once; its record says how many reward calls it cost and its cross-validated Spearman)."""
    weights = surrogate_file(reward, runs_dir)
    pool = Plan(
        REPO / "configs" / REWARDS[reward],
        {"pool": ["run.method=pretrained", "run.num_candidates=1"]},
        [POOL_SEED],
        POOL_SAMPLES,
        Path(runs_dir) / reward,
        ["run.trace=false"],
    )
    run_plan(pool, say)
    pool_dir = pool.run_dir("pool", POOL_SEED)
    if not weights.is_file():
        script = REPO / "jobs" / "fit_surrogate.py"
        subprocess.run([sys.executable, str(script), "--runs", str(pool_dir), "--out", str(weights)], check=True)
    meta = json.loads(str(np.load(weights, allow_pickle=False)["meta"]))
    return {"calls": calls_per_sample(load_runs(pool, "pool")) * POOL_SAMPLES, "spearman": meta["cv_spearman"]}


def evaluate(the_plan: Plan, reference=None) -> pd.DataFrame:
    """One row per method: its seeds' molecules pooled; reward median with a bootstrap 95% interval, the
    per-seed medians' spread, calls per molecule, M, and the MOSES metrics against ``reference``."""
    from svdd_ray.stats import median_interval

    rows = []
    for label, runs, pooled in pooled_runs(the_plan):
        valid = pooled.loc[~pooled["invalid"], "reward"].to_numpy(dtype=float)
        low, high = median_interval(valid) or (np.nan, np.nan)
        seeds = [float(run.samples.loc[~run.samples["invalid"], "reward"].median()) for run in runs]
        row = {
            "method": label,
            "family": FAMILIES[label],
            "n": len(pooled),
            "seeds": len(runs),
            "complete": all(is_complete(run.path) for run in runs),
            "M": int(runs[0].manifest["config"]["run"]["num_candidates"]),
            "calls": calls_per_sample(runs),
            "reward_median": float(np.median(valid)),
            "reward_low": low,
            "reward_high": high,
            "seed_low": min(seeds),
            "seed_high": max(seeds),
            "reward_p90": float(np.percentile(valid, 90)),
        }
        row.update(runs[0].domain.metrics(runs[0].objects(pooled["object"]), reference))  # without "n"
        rows.append(row)
    return pd.DataFrame(rows)


COLUMNS: list[harness.Column] = [
    ("method", "method", None),
    ("M", "M (paper's axis)", "{:.0f}"),
    ("calls", "reward calls / molecule", "{:.1f}"),
    ("reward_median", "median", "{:.3f}"),
    ("reward_low", "95% CI", lambda row: f"{row['reward_low']:.3f}-{row['reward_high']:.3f}"),
    ("seed_low", "seed medians", lambda row: f"{row['seed_low']:.3f}-{row['seed_high']:.3f}"),
    ("reward_p90", "p90", "{:.3f}"),
    ("n", "n", "{:.0f}"),
    ("validity", "validity", "{:.3f}"),
    ("uniqueness", "uniqueness", "{:.3f}"),
    ("novelty", "novelty", "{:.3f}"),
    ("internal_diversity", "IntDiv", "{:.3f}"),
    ("FCD/Test", "FCD/Test", "{:.2f}"),
    ("SNN/Test", "SNN/Test", "{:.3f}"),
    ("Filters", "Filters", "{:.3f}"),
    ("sa_median", "SA score median", "{:.2f}"),
]


def front_plot(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """Reward median (95% interval) against reward calls per molecule, one panel per reward."""
    from svdd_ray.report import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(frames), figsize=(6 * len(frames), 4.5), squeeze=False)
    for ax, (reward, frame) in zip(axes[0], frames.items()):
        for family, rows in frame.groupby("family", sort=False):
            rows = rows.sort_values("calls")
            error = [rows["reward_median"] - rows["reward_low"], rows["reward_high"] - rows["reward_median"]]
            ax.errorbar(rows["calls"], rows["reward_median"], yerr=error, marker="o", ms=4, capsize=3, label=family)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("reward calls per molecule (after the cache)")
        ax.set_ylabel(f"{reward.upper()} median (95% bootstrap interval)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def render(frames: dict[str, pd.DataFrame], surrogates: dict[str, dict], the_plans: dict[str, Plan], out: Path,
           command: str) -> Path:  # fmt: skip
    """Write ``out/molecule_front.md`` and ``out/molecule_front.png``; a hand-written reading below
    :data:`NOTES` is kept."""
    out.mkdir(parents=True, exist_ok=True)
    plot = front_plot(frames, out / "molecule_front.png")
    first = next(iter(the_plans.values()))
    text = [
        "# Molecules: reward against reward calls per molecule",
        "",
        f"Regenerate: `{command}`",
        "",
        f"Prior: the shipped left-to-right SMILES prior (`moses_smiles`, 4 tokens a step, 14 steps). "
        f"{first.samples} molecules per method and seed, seeds {', '.join(map(str, first.seeds))}, pooled; the "
        "interval is a bootstrap 95% interval of the pooled median, `seed medians` the range of the seeds' own "
        "medians. Calls are reward evaluations per final molecule after the run's cache (repeats are free), read "
        "from the rows. `M (paper's axis)` is the candidates per step (per round for refinement; N for best-of-N): "
        "the paper compares methods at equal M, these tables at equal calls. Naturalness: MOSES metrics of the "
        "pooled molecules (FCD/Test and SNN/Test against MOSES test with fcd_torch's ChemNet; FCD of a few hundred "
        "molecules lies far above its 10,000-molecule value, so compare rows of equal n and the pretrained row).",
        "",
        "Methods: `best-of-N`; `refine N R M=k`: the best of N pretrained molecules, then R rounds of "
        f"k copies whose last {RENOISE_TO:.0%} of steps are drawn again (on this prior: the "
        "string's end), keeping the best (N + kR calls); `screened best-of-N`: N pretrained molecules per "
        f"output ranked by a frozen ridge on Morgan counts, only the top {SCREEN_KEEP:.0%} scored; `screened "
        f"refine N 1 M=k`: the same screening of N elite candidates and of one round of k copies "
        f"({SCREEN_KEEP:.0%} of them scored); `svdd M=2`: SVDD-PM, 2 candidates a step; "
        "`smc M=4 per design`: SMC with 4 particles resampled within each output's own. The surrogate is fitted "
        f"once per reward on {POOL_SAMPLES} pretrained molecules of seed {POOL_SEED}: a one-off cost in reward "
        "calls, stated below each table, not in the per-molecule counts.",
        "",
    ]
    for reward, frame in frames.items():
        s = surrogates.get(reward)
        text += [f"## {reward.upper()} (`configs/{REWARDS[reward]}`)", "", harness.markdown(frame, COLUMNS), ""]
        if s:
            text += [
                f"Surrogate: {s['calls']:.0f} one-off reward calls, 5-fold cross-validated Spearman "
                f"{s['spearman']:.2f}.",
                "",
            ]
    text += [f"![reward against calls]({plot.name})", ""]
    path = out / "molecule_front.md"
    notes = path.read_text().partition(NOTES)[2] if path.is_file() else ""
    path.write_text("\n".join(text) + (NOTES + notes if notes else ""))
    return path

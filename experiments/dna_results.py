"""DNA results: methods towards HepG2-specific DNA on the committed prior, judged by an oracle never used to guide.

:func:`~experiments.harness.run_plan` runs every (method, seed) of a :class:`DnaPlan` (local backend, one
process; a complete run directory is reused), :func:`evaluate_runs` scores the
designs (guided reward, evaluation oracle, liver-motif hits, k-mer and motif naturalness against
natural HepG2 test sites, NLL under the prior) and :func:`render` writes ``docs/dna_results.md`` and
the trade-off plot. ``jobs/dna_results.py`` is the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import harness
from experiments.harness import Plan, calls_per_sample, pooled_runs, run_plan

__all__ = ["DnaPlan", "METHODS", "run_plan", "evaluate_runs", "reference_rows", "render"]

REPO = Path(__file__).resolve().parents[1]

#: A design sharing at least this share of positions with a training site (either strand) is a near-copy.
NEAR_COPY = 0.9
#: The hand-written reading of the table starts here; :func:`render` keeps it when it rewrites the page.
NOTES = "\n## What the table says\n"
#: Refinement of elites: the best of ``init`` pretrained designs, then ``rounds`` of 4 copies re-masked
#: 3 of the 25 steps back.
REFINE = "run.options={{init: {init}, rounds: {rounds}, renoise_to: 0.1}}"
#: method label -> config overrides. Budgets are stated in reward calls per design (measured).
METHODS: dict[str, list[str]] = {
    "pretrained": ["run.method=pretrained", "run.num_candidates=1"],
    "best_of_n N=4": ["run.method=best_of_n", "run.num_candidates=4"],
    "best_of_n N=16": ["run.method=best_of_n", "run.num_candidates=16"],
    "dps": [
        "run.method=dps",
        "run.num_candidates=1",
        "value.guide={target: hepg2}",
        "run.options={guidance_scale: 2.0}",
    ],
    "smc M=4": ["run.method=smc", "run.num_candidates=4", "run.alpha=0.5"],
    "svdd M=4 every 5": ["run.method=svdd", "run.num_candidates=4", "run.options={select_every: 5}"],
    "svdd M=2": ["run.method=svdd", "run.num_candidates=2"],
    "svdd M=4": ["run.method=svdd", "run.num_candidates=4"],
    "svdd M=8": ["run.method=svdd", "run.num_candidates=8"],
    "svdd M=4 alpha=1": ["run.method=svdd", "run.num_candidates=4", "run.alpha=1.0"],
    "svdd M=4 soft": ["run.method=svdd", "run.num_candidates=4", "value.fill=soft"],
    "svdd M=4 uniform": ["run.method=svdd", "run.num_candidates=4", "value.fill=uniform"],
    "smc M=8 per design soft every 2": [
        "run.method=smc",
        "run.num_candidates=8",
        "run.alpha=0.3",
        "value.fill=soft",
        "run.options={population: design, select_every: 2, ess_threshold: 0.5}",
    ],
    "smc M=8 per design soft": [
        "run.method=smc",
        "run.num_candidates=8",
        "run.alpha=0.2",
        "value.fill=soft",
        "run.options={population: design}",
    ],
    "particle_gibbs M=4 soft every 2 x2": [
        "run.method=particle_gibbs",
        "run.num_candidates=4",
        "run.alpha=0.3",
        "value.fill=soft",
        "run.options={iterations: 2, select_every: 2, ess_threshold: 0.5}",
    ],
    "best_of_n N=100": ["run.method=best_of_n", "run.num_candidates=100"],
    "refine N=4 R=4 M=4": ["run.method=refine", "run.num_candidates=4", REFINE.format(init=4, rounds=4)],
    "refine N=4 R=12 M=4": ["run.method=refine", "run.num_candidates=4", REFINE.format(init=4, rounds=12)],
    "refine N=4 R=24 M=4": ["run.method=refine", "run.num_candidates=4", REFINE.format(init=4, rounds=24)],
    "refine N=8 R=48 M=4": ["run.method=refine", "run.num_candidates=4", REFINE.format(init=8, rounds=48)],
    "svdd_mc M=4": [
        "run.method=svdd",
        "run.num_candidates=4",
        "value.kind=mc",
        "value.network.target=dna",
    ],
}
#: The SVDD-MC value network (``jobs/train_value.py``, see ``VALUE_NET_COMMAND``).
VALUE_NET = REPO / "checkpoints" / "dna" / "value_hepg2.pt"
VALUE_NET_COMMAND = (
    "python jobs/train_value.py --config configs/dna_hepg2.yaml --network dna "
    "--out checkpoints/dna/value_hepg2.pt --rollouts 1024 --val-rollouts 256 --heldout-rollouts 256 "
    "'model.options={num_steps: 25}'"
)


class DnaPlan(Plan):
    """The DNA plan: :data:`METHODS` on ``configs/dna_hepg2.yaml`` at ``steps`` reverse steps, SVDD-MC's network."""

    def __init__(
        self,
        methods: Sequence[str] | None = None,
        seeds: Sequence[int] = (0, 1, 2),
        samples: int = 86,
        steps: int = 25,
        runs_dir: Path = Path("results/dna"),
        config: Path = REPO / "configs" / "dna_hepg2.yaml",
    ) -> None:
        self.steps = steps
        super().__init__(config, METHODS, seeds, samples, runs_dir, [f"model.options={{num_steps: {steps}}}"], methods)

    def overrides(self, method: str, seed: int) -> list[str]:
        extra = []
        if "value.kind=mc" in METHODS.get(method, ()):
            if not VALUE_NET.is_file():
                raise ValueError(f"{method}: {VALUE_NET} is missing; train it with {VALUE_NET_COMMAND}")
            extra = [f"value.checkpoint={VALUE_NET}"]
        return super().overrides(method, seed) + extra


class Judge:
    """Scores a set of sequences: evaluation oracle, liver-motif hits, naturalness, NLL under the prior."""

    def __init__(self, prior=None) -> None:
        from svdd_ray.dna.data import load_sites
        from svdd_ray.dna.motifs import LiverMotifs
        from svdd_ray.dna.prior import load_prior
        from svdd_ray.dna.rewards import HepG2Oracle, HepG2Specificity

        test = load_sites("test")
        self.natural = test.tokens[test.cell == 0]
        self.training = load_sites("training").tokens
        self.guide = HepG2Specificity()
        self.oracle = HepG2Oracle()
        self.motifs = LiverMotifs()
        self.prior = prior if prior is not None else load_prior()

    def row(self, sequences: list[str], guided: np.ndarray | None = None) -> dict[str, float]:
        from svdd_ray.dna.data import encode
        from svdd_ray.dna.metrics import diversity, gc_content, kmer_correlation, nearest_identity, prior_nll
        from svdd_ray.stats import median_interval

        tokens = encode(sequences)
        guided = np.asarray(self.guide(sequences) if guided is None else guided, dtype=float)
        oracle = np.asarray(self.oracle(sequences), dtype=float)
        return {
            "n": len(sequences),
            "reward_median": float(np.median(guided)),
            "reward_p90": float(np.percentile(guided, 90)),
            "oracle_median": float(np.median(oracle)),
            **dict(zip(("oracle_low", "oracle_high"), median_interval(oracle) or (np.nan, np.nan))),
            "motif_hit_rate": float((np.asarray(self.motifs.hits(sequences)) > 0).mean()),
            "kmer3_r": kmer_correlation(tokens, self.natural, 3),
            "kmer6_r": kmer_correlation(tokens, self.natural, 6),
            "nll": prior_nll(self.prior, tokens, draws=2),
            "diversity": diversity(tokens),
            "near_copies": float((nearest_identity(tokens, self.training) >= NEAR_COPY).mean()),
            "gc": float(gc_content(tokens).mean()),
        }


def evaluate_runs(plan: DnaPlan, judge: Judge) -> pd.DataFrame:
    """One row per method: the metrics of all its seeds' designs pooled, plus calls and wall time per design."""
    rows = []
    for method, runs, pooled in pooled_runs(plan):
        run_config = runs[0].manifest["config"]["run"]
        calls = calls_per_sample(runs)
        if run_config["method"] == "dps":  # one classifier gradient per step and design
            calls += plan.steps
        row = judge.row(pooled["object"].tolist(), pooled["reward"].to_numpy())
        row.update(
            method=method,
            seeds=len(runs),
            candidates=run_config["num_candidates"],
            calls_per_design=calls,
            seconds_per_design=sum(r.manifest.get("totals", {}).get("wall_time_s", 0.0) for r in runs) / len(pooled),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def reference_rows(judge: Judge, limit: int | None = None) -> pd.DataFrame:
    """Natural HepG2 test sites (the first ``limit``, default all), and their top 10% by the evaluation oracle."""
    from svdd_ray.dna.data import decode

    natural = decode(judge.natural[:limit])
    oracle = np.asarray(judge.oracle(natural), dtype=float)
    top = [natural[i] for i in np.argsort(-oracle)[: max(1, len(natural) // 10)]]
    rows = [{**judge.row(natural), "method": "natural HepG2 (test, chr1)"}]
    rows.append({**judge.row(top), "method": "natural HepG2, top 10% by oracle"})
    return pd.DataFrame(rows)


COLUMNS = [
    ("method", "method", None),
    ("n", "designs", "{:.0f}"),
    ("seeds", "seeds", "{:.0f}"),
    ("candidates", "M (paper's axis)", "{:.0f}"),
    ("calls_per_design", "reward calls / design", "{:.1f}"),
    ("reward_median", "guided reward median", "{:.2f}"),
    ("reward_p90", "guided p90", "{:.2f}"),
    ("oracle_median", "oracle median", "{:.2f}"),
    ("oracle_low", "oracle median 95% CI", lambda row: f"{row['oracle_low']:.2f} to {row['oracle_high']:.2f}"),
    ("motif_hit_rate", "liver-motif hit rate", "{:.2f}"),
    ("kmer3_r", "3-mer r", "{:.3f}"),
    ("kmer6_r", "6-mer r", "{:.3f}"),
    ("nll", "NLL (nats/base)", "{:.3f}"),
    ("diversity", "diversity", "{:.3f}"),
    ("near_copies", "near-copies of training", "{:.2f}"),
    ("gc", "GC", "{:.3f}"),
    ("seconds_per_design", "s / design", "{:.2f}"),
]


def markdown(frame: pd.DataFrame) -> str:
    """The results table in Markdown; blank cells where a row lacks a column."""
    return harness.markdown(frame, COLUMNS)


def trade_off_plot(frame: pd.DataFrame, path: Path) -> Path:
    """Oracle median against 6-mer correlation to natural HepG2 sites, one point per method setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for _, row in frame.iterrows():
        for ax, x in zip(axes, ("kmer6_r", "nll")):
            ax.scatter(row[x], row["oracle_median"], s=30)
            ax.annotate(
                row["method"], (row[x], row["oracle_median"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    axes[0].set_xlabel("6-mer spectrum r to natural HepG2 (higher = more natural)")
    axes[1].set_xlabel("NLL under the prior, nats/base (lower = more natural)")
    for ax in axes:
        ax.set_ylabel("evaluation-oracle median (HepG2 log-odds)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def front_plot(frame: pd.DataFrame, natural: float, path: Path) -> Path:
    """Oracle median (95% bootstrap interval) against guided-reward calls per design: the reward-vs-calls front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for family, rows in frame.groupby(frame["method"].str.split().str[0], sort=False):
        rows = rows.sort_values("calls_per_design")
        error = [rows["oracle_median"] - rows["oracle_low"], rows["oracle_high"] - rows["oracle_median"]]
        ax.errorbar(rows["calls_per_design"], rows["oracle_median"], yerr=error, marker="o", ms=4, capsize=3,
                    label=family)  # fmt: skip
        for _, row in rows.iterrows():
            ax.annotate(row["method"], (row["calls_per_design"], row["oracle_median"]), fontsize=6,
                        xytext=(3, -9), textcoords="offset points")  # fmt: skip
    ax.axhline(natural, color="grey", lw=0.8, ls="--", label="natural HepG2 median")
    ax.set_xscale("log")
    ax.set_xlabel("guided-reward calls per design (after the cache)")
    ax.set_ylabel("evaluation-oracle median (HepG2 log-odds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(plan: DnaPlan, results: pd.DataFrame, references: pd.DataFrame, out: Path, command: str) -> Path:
    """Write ``out/dna_results.md``, ``out/dna_front.png`` and ``out/dna_tradeoff.png``."""
    out.mkdir(parents=True, exist_ok=True)
    front = front_plot(results, float(references["oracle_median"].iloc[0]), out / "dna_front.png")
    plot = trade_off_plot(pd.concat([results, references]), out / "dna_tradeoff.png")
    text = [
        "# DNA results: HepG2-specific regulatory DNA",
        "",
        f"Regenerate: `{command}`",
        "",
        f"Prior: `checkpoints/dna/prior` (see its MODEL_CARD.md), {plan.steps} reverse steps. Guided reward: HepG2 "
        "logit minus the strongest other cell type's logit under the guide classifier (trained on odd "
        "chromosomes). **Oracle**: the same log-odds under a different classifier trained on even chromosomes, "
        "never used for guidance. Naturalness against the natural HepG2-specific sites of the test chromosome "
        "(chr1). Designs per method: seeds x samples, pooled; the interval is a bootstrap 95% interval of the "
        "oracle median.",
        "",
        "Budgets, in guided-reward calls per design (measured after the run's cache; the x axis of the front "
        "plot): best-of-N pays N; SVDD-PM with M candidates about M per selecting step (`argmax`: the reward of "
        "the decoded argmax of x0_hat, `soft`: of its per-base probabilities, `value.fill`); SMC `per design` "
        "runs M particles per design resampled only among themselves, about M per scored step; `refine N R M` "
        "is the best of N pretrained designs, then R rounds of M copies taken 3 of the 25 steps back (12% of "
        "positions re-masked) and redrawn by the prior, keeping the best: at most N + R x M (copies that come "
        "back unchanged are cache hits); DPS pays one call plus one classifier gradient per step, counted as "
        "calls. `M (paper's axis)` is the candidates per step (per round for refine): the "
        "paper compares methods at equal M, this table at equal calls. Near-copies: the share of designs with "
        ">= 90% of positions equal to a training site (either strand). `s / design` is the engine's wall time "
        "on this machine (2 cores, shared by several runs).",
        "",
        markdown(pd.concat([results, references], ignore_index=True)),
        "",
        f"![reward against calls]({front.name})",
        "",
        f"![trade-off]({plot.name})",
        "",
    ]
    path = out / "dna_results.md"
    notes = path.read_text().partition(NOTES)[2] if path.is_file() else ""
    path.write_text("\n".join(text) + (NOTES + notes if notes else ""))
    return path

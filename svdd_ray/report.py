"""Reports from run directories: a summary table (Markdown and HTML), plots and sample grids.

    svdd-ray report RUN_DIR [RUN_DIR ...] [--out DIR] [--top-k 16]

Runs made with different configs can be compared: columns one lacks are left blank.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from svdd_ray.engine.output import BATCH_FILE, MANIFEST, TRACE_DIR


class RunDirError(ValueError):
    """A run directory that cannot be reported on, with the directory named in the message."""


@dataclass
class Run:
    """One run directory read back: its samples, manifest and optional trace."""

    name: str
    path: Path
    samples: pd.DataFrame
    manifest: dict
    trace: pd.DataFrame | None

    @property
    def domain(self) -> str:
        """``images``, ``molecules`` or ``other``, from what the objects look like."""
        objects = self.samples["object"]
        if len(objects) and isinstance(objects.iloc[0], (bytes, bytearray)):
            return "images"
        return "molecules" if looks_like_smiles(objects.tolist()) else "other"


def looks_like_smiles(objects: list) -> bool:
    """True when RDKit is installed and most non-empty strings parse to molecules with atoms."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        return False
    RDLogger.DisableLog("rdApp.*")
    texts = [o for o in objects[:200] if isinstance(o, str) and o and not set(o) <= {"0", "1"}]
    if not texts:
        return False
    parsed = [Chem.MolFromSmiles(o) for o in texts]
    return sum(m is not None and m.GetNumAtoms() > 0 for m in parsed) >= 0.5 * len(texts)


def load_run(path: str | Path) -> Run:
    """Read a run directory; a clear :class:`RunDirError` for anything that is not a readable run."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    if not (path / MANIFEST).is_file():
        raise RunDirError(f"{path}: not a svdd_ray run (no {MANIFEST})")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except json.JSONDecodeError:
        raise RunDirError(f"{path / MANIFEST}: unreadable manifest") from None
    files = sorted(p for p in path.iterdir() if BATCH_FILE.match(p.name))
    if not files:
        raise RunDirError(f"{path}: the run has no finished batches yet")
    try:
        samples = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is named
        raise RunDirError(f"{path}: a batch file cannot be read ({err})") from None
    trace_dir = path / TRACE_DIR
    trace = pd.read_parquet(trace_dir) if trace_dir.is_dir() and any(trace_dir.glob("*.parquet")) else None
    return Run(path.name, path, samples.sort_values("index").reset_index(drop=True), manifest, trace)


def expected_batches(run: Run) -> int | None:
    cfg = run.manifest.get("config", {}).get("run", {})
    if "num_samples" not in cfg or "batch_size" not in cfg:
        return None
    return -(-cfg["num_samples"] // cfg["batch_size"])


def summarize(runs: list[Run], reference: Callable[[], Iterable[str]] | None = None) -> pd.DataFrame:
    """One row per run and method: counts, reward quantiles, invalid share, cost and throughput.

    ``reference`` gives training-set SMILES for novelty (molecule runs only; skipped if None).
    """
    rows = []
    for run in runs:
        for method, frame in run.samples.groupby("method", sort=False):
            valid = frame.loc[~frame["invalid"], "reward"]
            per_batch = frame.groupby("batch").first()
            totals = run.manifest.get("totals", {})
            row = {
                "run": run.name,
                "method": method,
                "M": int(frame["num_candidates"].iloc[0]) if "num_candidates" in frame else None,
                "alpha": float(frame["alpha"].iloc[0]) if "alpha" in frame else None,
                "n": len(frame),
                "reward_median": valid.median(),
                "reward_p90": valid.quantile(0.9),
                "reward_p99": valid.quantile(0.99),
                "invalid_fraction": float(frame["invalid"].mean()),
                "reward_calls": int(per_batch["reward_calls"].sum()) if "reward_calls" in per_batch else None,
                "cache_hit_rate": totals.get("cache_hit_rate"),
                "run_wall_time_s": totals.get("wall_time_s"),
                "samples_per_s": len(frame) / totals["wall_time_s"] if totals.get("wall_time_s") else None,
            }
            expected = expected_batches(run)
            if expected is not None and frame["batch"].nunique() < expected:
                row["note"] = f"incomplete: {frame['batch'].nunique()} of {expected} batches"
            if run.domain == "molecules":
                row.update(molecule_metrics(frame["object"].tolist(), reference))
            rows.append(row)
    return pd.DataFrame(rows)


def molecule_metrics(smiles: list[str], reference: Callable[[], Iterable[str]] | None) -> dict:
    from svdd_ray.chem import metrics

    out = {
        "validity": metrics.validity(smiles),
        "uniqueness": metrics.uniqueness(smiles),
        "internal_diversity": metrics.internal_diversity(smiles),
    }
    if reference is not None:
        out["novelty"] = metrics.novelty(smiles, reference())
    return out


# ---------------------------------------------------------------- plots and grids


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Lay out, write as PNG and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def _label(run: Run, method: str) -> str:
    m = run.samples.loc[run.samples["method"] == method, "num_candidates"].iloc[0]
    return f"{run.name}\n{method} M={m}"


def plot_distributions(runs: list[Run], path: Path) -> Path:
    """Reward distributions per run and method, side by side."""
    plt = _pyplot()
    data, labels = [], []
    for run in runs:
        for method, frame in run.samples.groupby("method", sort=False):
            data.append(frame.loc[~frame["invalid"], "reward"].to_numpy())
            labels.append(_label(run, method))
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(data)), 4))
    ax.boxplot([d if len(d) else [np.nan] for d in data], showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_ylabel("reward (valid samples)")
    ax.set_title("Reward distribution")
    return _save(fig, path)


def plot_reward_vs_m(summary: pd.DataFrame, path: Path) -> Path | None:
    """Median and 90th percentile of the reward against M, per method, when runs differ in M."""
    if summary["M"].nunique() < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for method, frame in summary.groupby("method"):
        frame = frame.groupby("M")[["reward_median", "reward_p90"]].mean().sort_index()
        ax.plot(frame.index, frame["reward_median"], marker="o", label=f"{method} median")
        ax.plot(frame.index, frame["reward_p90"], marker="^", linestyle="--", label=f"{method} p90")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M (candidates per step)")
    ax.set_ylabel("reward")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_trace(runs: list[Run], path: Path) -> Path | None:
    """Mean and best candidate value per step (runs with a trace)."""
    traced = [r for r in runs if r.trace is not None and len(r.trace)]
    if not traced:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in traced:
        per_step = run.trace.groupby("t")[["mean_value", "best_value"]].mean().sort_index(ascending=False)
        line = ax.plot(per_step.index, per_step["mean_value"], label=f"{run.name} mean")[0]
        ax.plot(
            per_step.index, per_step["best_value"], linestyle="--", color=line.get_color(), label=f"{run.name} best"
        )
    ax.invert_xaxis()
    ax.set_xlabel("step t (reverse time)")
    ax.set_ylabel("candidate value")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_reward_vs_time(summary: pd.DataFrame, path: Path) -> Path | None:
    """Median reward against wall time, one point per run and method."""
    timed = summary.dropna(subset=["run_wall_time_s", "reward_median"])
    if timed.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for _, row in timed.iterrows():
        ax.scatter(row["run_wall_time_s"], row["reward_median"])
        ax.annotate(f"{row['run']}:{row['method']}", (row["run_wall_time_s"], row["reward_median"]), fontsize=7)
    ax.set_xlabel("run wall time (s)")
    ax.set_ylabel("median reward")
    return _save(fig, path)


def top_k(run: Run, k: int) -> pd.DataFrame:
    valid = run.samples[~run.samples["invalid"]]
    return valid.drop_duplicates("object").nlargest(k, "reward")


def sample_grid(run: Run, k: int, path: Path) -> Path | None:
    """The top-k objects with their rewards: RDKit drawings for molecules, tiles for images."""
    best = top_k(run, k)
    if best.empty:
        return None
    if run.domain == "molecules":
        from rdkit import Chem
        from rdkit.Chem import Draw

        mols = [Chem.MolFromSmiles(s) for s in best["object"]]
        legends = [f"{r:.3f}" for r in best["reward"]]
        image = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200), legends=legends)
        image.save(path)
        return path
    if run.domain == "images":
        from PIL import Image

        plt = _pyplot()
        cols = min(8, len(best))
        rows = -(-len(best) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, (_, row) in zip(axes.flat, best.iterrows()):
            ax.imshow(np.asarray(Image.open(io.BytesIO(row["object"]))), cmap="gray")
            ax.set_title(f"{row['reward']:.3g}", fontsize=7)
        return _save(fig, path)
    return None


# ---------------------------------------------------------------- the report


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write_report(
    run_dirs: list[str | Path],
    out_dir: str | Path,
    top: int = 16,
    reference: Callable[[], Iterable[str]] | None = None,
) -> Path:
    """Write ``summary.md``, ``summary.html``, ``summary.csv``, plots and grids to ``out_dir``."""
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for i, run in enumerate(runs):  # runs from different parents may share a name
        if names.count(run.name) > 1:
            run.name = f"{run.name}#{i}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs, reference)
    summary.to_csv(out / "summary.csv", index=False)
    figures = [
        plot_distributions(runs, out / "reward_distributions.png"),
        plot_reward_vs_m(summary, out / "reward_vs_m.png"),
        plot_trace(runs, out / "value_trace.png"),
        plot_reward_vs_time(summary, out / "reward_vs_time.png"),
    ]
    grids = [sample_grid(run, top, out / f"top_{i}_{run.path.name}.png") for i, run in enumerate(runs)]
    images = [p for p in figures + grids if p is not None]
    md = ["# svdd_ray report", "", "Runs: " + ", ".join(f"`{r.path}`" for r in runs), "", markdown_table(summary), ""]
    md += [f"![{p.stem}]({p.name})" for p in images]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    body = [f"<h1>svdd_ray report</h1><p>Runs: {html.escape(', '.join(str(r.path) for r in runs))}</p>"]
    body.append(summary.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3f}"))
    for p in images:
        data = base64.b64encode(p.read_bytes()).decode()
        body.append(f'<h3>{html.escape(p.stem)}</h3><img src="data:image/png;base64,{data}">')
    (out / "summary.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>svdd_ray report</title>" + "\n".join(body)
    )
    return out

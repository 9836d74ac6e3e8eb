"""Reports from run directories: a summary table (Markdown and HTML), plots and sample grids.

    svdd-ray report RUN_DIR [RUN_DIR ...] [--out DIR] [--top-k 16] [--no-novelty]

Runs made with different configs can be compared: columns one lacks are left blank. What the
objects are (how to show, draw and judge them) is asked of the domain each run recorded in its
manifest (:mod:`svdd_ray.domains`), never guessed from the objects.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svdd_ray.domains import Domain, domain_name, load_domain
from svdd_ray.engine.output import BATCH_FILE, MANIFEST, TRACE_DIR
from svdd_ray.errors import ConfigError

#: Top objects listed (as text, by the domain's ``display``) per run in ``summary.md``, and their longest text.
TOP_LISTED = 5
DISPLAY_CHARS = 120


class RunDirError(ValueError):
    """A run directory that cannot be reported on, or an ``--out`` that cannot take the report; named in the message."""


@dataclass
class Run:
    """One run directory read back: its samples, manifest, optional trace and the domain of its objects."""

    name: str
    path: Path
    samples: pd.DataFrame
    manifest: dict
    trace: pd.DataFrame | None
    domain: Domain

    def objects(self, cells: pd.Series | None = None) -> list:
        """The objects of ``cells`` (default: all samples), decoded by the run's domain."""
        cells = self.samples["object"] if cells is None else cells
        return [self.domain.from_cell(c) for c in cells]


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
    try:
        domain = load_domain(domain_name(manifest), key=f"{path / MANIFEST}: domain")
    except ConfigError as err:
        raise RunDirError(str(err)) from None
    return Run(path.name, path, samples.sort_values("index").reset_index(drop=True), manifest, trace, domain)


def expected_batches(run: Run) -> int | None:
    cfg = run.manifest.get("config", {}).get("run", {})
    if "num_samples" not in cfg or "batch_size" not in cfg:
        return None
    return -(-cfg["num_samples"] // cfg["batch_size"])


def reference_sets(runs: list[Run], novelty: bool = True, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The reference set of each domain among ``runs`` (asked once per domain); none when ``novelty`` is False.

    ``given`` maps a domain name to the reference set to use instead of the domain's own.
    """
    if not novelty:
        return {}
    given = given or {}
    out: dict[str, Any] = {}
    for run in runs:
        name = run.domain.name
        if name not in out:
            out[name] = given[name] if name in given else run.domain.reference()
    return out


def summarize(runs: list[Run], references: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per run and method: counts, reward quantiles, invalid share, cost, throughput and domain metrics.

    ``references`` maps a domain name to its reference set (novelty etc.); a domain without one skips those metrics.
    """
    references = references or {}
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
            row.update(run.domain.metrics(run.objects(frame["object"]), references.get(run.domain.name)))
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- plots and grids


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, write as PNG and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def _label(run: Run, method: str) -> str:
    m = run.samples.loc[run.samples["method"] == method, "num_candidates"].iloc[0]
    return f"{run.name}\n{method} M={m}"


def plot_distributions(runs: list[Run], path: Path) -> Path:
    """Reward distributions per run and method, side by side."""
    plt = pyplot()
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
    return save_figure(fig, path)


def plot_reward_vs_m(summary: pd.DataFrame, path: Path) -> Path | None:
    """Median and 90th percentile of the reward against M, per method, when runs differ in M."""
    if summary["M"].nunique() < 2:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for method, frame in summary.groupby("method"):
        frame = frame.groupby("M")[["reward_median", "reward_p90"]].mean().sort_index()
        ax.plot(frame.index, frame["reward_median"], marker="o", label=f"{method} median")
        ax.plot(frame.index, frame["reward_p90"], marker="^", linestyle="--", label=f"{method} p90")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M (candidates per step)")
    ax.set_ylabel("reward")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_trace(runs: list[Run], path: Path) -> Path | None:
    """Mean and best candidate value per step (runs with a trace)."""
    traced = [r for r in runs if r.trace is not None and len(r.trace)]
    if not traced:
        return None
    plt = pyplot()
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
    return save_figure(fig, path)


def plot_reward_vs_time(summary: pd.DataFrame, path: Path) -> Path | None:
    """Median reward against wall time, one point per run and method."""
    timed = summary.dropna(subset=["run_wall_time_s", "reward_median"])
    if timed.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for _, row in timed.iterrows():
        ax.scatter(row["run_wall_time_s"], row["reward_median"])
        ax.annotate(f"{row['run']}:{row['method']}", (row["run_wall_time_s"], row["reward_median"]), fontsize=7)
    ax.set_xlabel("run wall time (s)")
    ax.set_ylabel("median reward")
    return save_figure(fig, path)


def top_k(run: Run, k: int) -> pd.DataFrame:
    valid = run.samples[~run.samples["invalid"]]
    return valid.drop_duplicates("object").nlargest(k, "reward")


def sample_grid(run: Run, k: int, path: Path) -> Path | None:
    """The top-k objects with their rewards, drawn by the run's domain (None if it draws nothing)."""
    best = top_k(run, k)
    if best.empty:
        return None
    return run.domain.sample_grid(run.objects(best["object"]), path, [f"{r:.3g}" for r in best["reward"]])


def top_objects(run: Run, k: int = TOP_LISTED) -> pd.DataFrame:
    """The top-k objects as text (the domain's ``display``, cut to ``DISPLAY_CHARS``) with their rewards."""
    best = top_k(run, k)
    texts = [run.domain.display(obj) for obj in run.objects(best["object"])]
    texts = [t if len(t) <= DISPLAY_CHARS else t[: DISPLAY_CHARS - 3] + "..." for t in texts]
    return pd.DataFrame({"reward": best["reward"].to_numpy(), "object": texts})


# ---------------------------------------------------------------- the report


def fmt(value: Any, digits: int = 3, missing: str = "") -> str:
    """A table cell: a float to ``digits`` decimals (never ``-0.0``), None or NaN as ``missing``, the rest as text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    if isinstance(value, float):
        return f"{0.0 if abs(value) < 0.5 * 10**-digits else value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, align_right: bool = False) -> str:
    """A Markdown table of ``frame`` (cells by :func:`fmt`); ``align_right`` right-aligns all but the first column."""
    rule = ["---" if i == 0 or not align_right else "---:" for i in range(len(frame.columns))]
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |", "|" + "|".join(rule) + "|"]
    lines += [
        "| " + " | ".join(fmt(v).replace("|", r"\|") for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` made and checked writable; a one-line :class:`RunDirError` naming ``--out`` otherwise
    (a file, below a file, not writable, on a read-only filesystem)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise RunDirError(f"--out {out}: cannot write the report there ({err.strerror or err})") from None
    return out


def write_report(
    run_dirs: list[str | Path],
    out_dir: str | Path,
    top: int = 16,
    novelty: bool = True,
    references: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``summary.md``, ``summary.html``, ``summary.csv``, plots and grids to ``out_dir``.

    ``novelty=False`` skips the metrics that need a domain's reference set (MOSES novelty, digit
    naturalness); ``references`` (domain name -> set) replaces a domain's own reference set.
    """
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for i, run in enumerate(runs):  # runs from different parents may share a name
        if names.count(run.name) > 1:
            run.name = f"{run.name}#{i}"
    out = output_dir(out_dir)
    summary = summarize(runs, reference_sets(runs, novelty, references))
    summary.to_csv(out / "summary.csv", index=False)
    figures = [
        plot_distributions(runs, out / "reward_distributions.png"),
        plot_reward_vs_m(summary, out / "reward_vs_m.png"),
        plot_trace(runs, out / "value_trace.png"),
        plot_reward_vs_time(summary, out / "reward_vs_time.png"),
    ]
    grids = [sample_grid(run, top, out / f"top_{i}_{run.path.name}.png") for i, run in enumerate(runs)]
    images = [p for p in figures + grids if p is not None]
    tops = {run.name: top_objects(run) for run in runs}
    md = ["# svdd_ray report", "", "Runs: " + ", ".join(f"`{r.path}`" for r in runs), "", markdown_table(summary), ""]
    for name, table in tops.items():
        md += [f"Top objects of `{name}`:", "", markdown_table(table), ""]
    md += [f"![{p.stem}]({p.name})" for p in images]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    body = [f"<h1>svdd_ray report</h1><p>Runs: {html.escape(', '.join(str(r.path) for r in runs))}</p>"]
    body.append(summary.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3f}"))
    for name, table in tops.items():
        body.append(
            f"<h3>Top objects of {html.escape(name)}</h3>"
            + table.to_html(index=False, float_format=lambda v: f"{v:.3f}")
        )
    for p in images:
        data = base64.b64encode(p.read_bytes()).decode()
        body.append(f'<h3>{html.escape(p.stem)}</h3><img src="data:image/png;base64,{data}">')
    (out / "summary.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>svdd_ray report</title>" + "\n".join(body)
    )
    return out

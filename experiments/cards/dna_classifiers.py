"""The card of the DNA cell-type classifiers, ``checkpoints/dna/CLASSIFIERS.md``.

    python -m experiments.cards.dna_classifiers [--dir checkpoints/dna] [--threads 1]

:func:`score` scores both committed classifiers on the test rows (chr1): per-class AUROC, how the
guide and the oracle agree, and how long each reward takes; :func:`render` turns the numbers and the
training logs (``<kind>_classifier.json``) into Markdown. Training is ``python -m svdd_ray.dna.classifier``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from svdd_ray.dna.classifier import KINDS, default_checkpoint_dir, load_classifier, logit_metrics, predict_logits
from svdd_ray.dna.data import CELL_TYPES, load_sites, one_hot

__all__ = ["score", "render", "write_card", "main"]


def _specificity_numbers(logits: dict, cell: np.ndarray) -> dict:
    """How the guide's and the oracle's HepG2 specificity agree, and their mean by true cell type."""
    from scipy.stats import pearsonr, spearmanr

    from svdd_ray.dna.rewards import specificity

    guide, oracle = (specificity(logits[k], CELL_TYPES.index("HepG2")).numpy() for k in KINDS)
    hepg2 = cell == 0
    agreement = {
        "spearman_hepg2_specificity": float(spearmanr(guide, oracle).statistic),
        "pearson_hepg2_specificity": float(pearsonr(guide, oracle).statistic),
        "spearman_hepg2_specificity_on_hepg2_rows": float(spearmanr(guide[hepg2], oracle[hepg2]).statistic),
        "argmax_agreement": float((logits["guide"].argmax(-1) == logits["oracle"].argmax(-1)).float().mean()),
    }
    by_class = {
        kind: {name: float(spec[cell == c].mean()) for c, name in enumerate(CELL_TYPES)}
        for kind, spec in zip(KINDS, (guide, oracle))
    }
    return {"agreement": agreement, "mean_hepg2_specificity_by_true_class": by_class}


def score(directory: Path) -> tuple[dict, dict]:
    """(training logs by kind, the card's numbers) of the classifiers in ``directory``."""
    test = load_sites("test")
    x = one_hot(test.tokens)
    logs, logits, metrics, sizes = {}, {}, {}, {}
    for kind in KINDS:
        path = directory / f"{kind}_classifier.pt"
        logs[kind] = json.loads(path.with_suffix(".json").read_text())
        logits[kind] = predict_logits(load_classifier(kind, path), x)
        metrics[kind] = logit_metrics(logits[kind], test.cell)
        sizes[kind] = path.stat().st_size
    numbers = {
        "test": metrics,
        **_specificity_numbers(logits, test.cell),
        "checkpoint_bytes": sizes,
        "reward_seconds_256": _reward_timing(directory),
    }
    return logs, numbers


def _reward_timing(directory: Path) -> dict:
    """Seconds to score 256 test sequences with each reward on CPU (best of 3, after a warm-up)."""
    from svdd_ray.dna.rewards import HepG2Oracle, HepG2Specificity

    seqs = load_sites("test").sequences[:256]
    out = {}
    for name, cls, kind in (("hepg2", HepG2Specificity, "guide"), ("hepg2_oracle", HepG2Oracle, "oracle")):
        reward = cls(checkpoint=directory / f"{kind}_classifier.pt")
        reward(seqs[:8])
        times = []
        for _ in range(3):
            t = time.perf_counter()
            reward(seqs)
            times.append(time.perf_counter() - t)
        out[name] = round(min(times), 3)
    out["threads"] = torch.get_num_threads()
    return out


def write_card(directory: str | os.PathLike | None = None) -> dict:
    """Score the classifiers in ``directory`` (default: the committed ones), write ``CLASSIFIERS.md``; the numbers."""
    directory = Path(directory) if directory is not None else default_checkpoint_dir()
    logs, numbers = score(directory)
    (directory / "CLASSIFIERS.md").write_text(render(logs, numbers))
    return numbers


def _fmt(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3f}"


def render(logs: dict, numbers: dict) -> str:
    """The markdown card of both classifiers (``logs``: training logs by kind; ``numbers``: :func:`score`)."""
    test = numbers["test"]
    rows = []
    for kind in KINDS:
        m = test[kind]
        v = logs[kind]["validation"]
        aurocs = " | ".join(_fmt(m["auroc"][c]) for c in CELL_TYPES)
        rows.append(
            f"| {kind} | {aurocs} | {_fmt(m['mean_auroc'])} | {_fmt(m['accuracy'])} | "
            f"{_fmt(v['mean_auroc'])} / {_fmt(v['accuracy'])} |"
        )
    spec_rows = "\n".join(
        f"| {kind} | "
        + " | ".join(f"{numbers['mean_hepg2_specificity_by_true_class'][kind][c]:+.2f}" for c in CELL_TYPES)
        + " |"
        for kind in KINDS
    )

    def data_line(kind: str) -> str:
        d = logs[kind]["data"]
        per = ", ".join(f"{name} {n:,}" for name, n in d["rows_per_class"].items())
        return f"{d['num_rows']:,} training rows on {', '.join(d['chromosomes'])} ({per})"

    def train_line(kind: str) -> str:
        t = logs[kind]["training"]
        env = logs[kind]["environment"]
        return (
            f"{t['epochs_run']} epochs ({t['steps']:,} steps of batch {t['batch_size']}, AdamW lr {t['lr']}, "
            f"weight decay {t['weight_decay']}, one-cycle schedule over {t['max_epochs']} epochs; stopped by "
            f"{t['stop_reason']}), epoch {t['best_epoch']} kept by validation mean AUROC; "
            f"**{t['wall_time_s'] / 60:.1f} min** on {env['threads']} CPU thread (torch {env['torch']})"
        )

    def arch(kind: str) -> str:
        a = logs[kind]["architecture"]
        hp = ", ".join(f"{k}={v}" for k, v in a["hparams"].items())
        return f"`{a['class']}({hp})`, {logs[kind]['num_parameters']:,} parameters"

    ag = numbers["agreement"]
    size = numbers["checkpoint_bytes"]
    timing = numbers["reward_seconds_256"]
    header = " | ".join(CELL_TYPES)
    return f"""# DNA cell-type classifiers (svdd_ray.dna.classifier)

Two classifiers of 200-bp DNase-hypersensitive sites (the `dnadiffusion` wheel's table, hg38)
into the cell type they are specific to: {", ".join(CELL_TYPES)} (logit order). Input is one-hot
`[n, 4, 200]` (channels A, C, G, T); each averages the logits of the sequence and its reverse
complement. Load with `svdd_ray.dna.classifier.load_classifier("guide" | "oracle")`.

- **guide** (`guide_classifier.pt`, {size["guide"] / 1e6:.2f} MB): the reward SVDD optimises
  (`hepg2` reward and guide: HepG2 logit minus the largest other logit).
  Conv -> SiLU -> max pool -> conv -> SiLU -> global max + mean pool -> MLP; smooth
  activations so its input gradient drives DPS.
  - Architecture: {arch("guide")}.
  - Data: {data_line("guide")}.
  - Training: {train_line("guide")}.
- **oracle** (`oracle_classifier.pt`, {size["oracle"] / 1e6:.2f} MB): evaluation only
  (`hepg2_oracle` reward), never used for guidance. A different architecture: conv stem ->
  max pool -> pre-norm dilated residual blocks (GELU) -> global max + mean pool -> MLP,
  trained on the disjoint other half of the training chromosomes.
  - Architecture: {arch("oracle")}.
  - Data: {data_line("oracle")}.
  - Training: {train_line("oracle")}.

Both: reverse-complement (p = 0.5) and up-to-3-bp shift augmentation, cross-entropy; the
validation split (all chr2, {logs["guide"]["data"]["validation_rows"]:,} rows) picks the epoch to keep.
The test split (all chr1, {logs["guide"]["data"]["test_rows"]:,} rows) is never trained on or used for selection.
Weights are plain `state_dict`s (`torch.load(..., weights_only=True)`);
the architecture's hyper-parameters and the full training log are in `<kind>_classifier.json`.

## Test rows (chr1): one-vs-rest AUROC per cell type, accuracy

| classifier | {header} | mean AUROC | accuracy | validation mean AUROC / accuracy |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Chance accuracy is 0.25 (the classes are balanced).

## Guide vs oracle on the test rows

The HepG2 specificity `logit[HepG2] - max(other logits)` of the two classifiers:
Spearman **{ag["spearman_hepg2_specificity"]:.3f}** (Pearson {ag["pearson_hepg2_specificity"]:.3f}) over all test rows,
Spearman {ag["spearman_hepg2_specificity_on_hepg2_rows"]:.3f} over the HepG2 test rows only; the two predict the same
cell type on {100 * ag["argmax_agreement"]:.1f}% of test rows. A guided design whose guide score rises far above
what the oracle gives it is exploiting the guide.

Mean HepG2 specificity by true cell type (test rows):

| classifier | {header} |
|---|---|---|---|---|
{spec_rows}

Scoring 256 sequences with the `hepg2` / `hepg2_oracle` reward takes {timing["hepg2"]:.3f} s /
{timing["hepg2_oracle"]:.3f} s on CPU ({timing["threads"]} thread{"s" if timing["threads"] != 1 else ""},
a shared machine; best of 3).

## Reproduce

```bash
pip install --no-deps dnadiffusion==0.0.0.dev0   # the data
python -m svdd_ray.dna.classifier train --kind guide    # checkpoints/dna/guide_classifier.{{pt,json}}
python -m svdd_ray.dna.classifier train --kind oracle   # checkpoints/dna/oracle_classifier.{{pt,json}}
python -m experiments.cards.dna_classifiers             # this file
```

Training runs on one CPU thread with seed 0 (`--seed`); it is deterministic unless the time
limit (`--max-minutes`) cuts an epoch short.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score both DNA classifiers on the test rows, write CLASSIFIERS.md")
    parser.add_argument("--dir", type=Path, default=None, help="checkpoint directory (default: checkpoints/dna)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(write_card(args.dir), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

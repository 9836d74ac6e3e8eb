"""Fit a pre-screening surrogate offline on the rewards of earlier runs, and save it frozen.

    python jobs/fit_surrogate.py --runs results/docking/PARP1_pool --out checkpoints/surrogates/PARP1_morgan_ridge.npz

Reads the ``object`` and ``reward`` columns of the runs' Parquet datasets (distinct objects with a
finite reward; a repeated object keeps its first score), measures the surrogate's rank correlation
with the reward by ``--folds``-fold cross-validation, fits it on all rows and writes its weights
with a record of what it was fitted on (``meta``: runs, rows, options, the cross-validated
Spearman). A config uses it as
``prescreen: {surrogate: {target: morgan_ridge, options: {weights: <--out>}}, min_scored: 0}``
(add ``final: true`` for best-of-N: only the surrogate's top picks of each chain get the reward).
``--sizes 32 64 128`` also prints a learning curve: the Spearman on ``--held-out`` rows of
surrogates fitted on that many of the others (mean and spread over 5 draws), to judge how few
expensive scores a surrogate needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from svdd_ray.chem.surrogates import morgan_ridge
from svdd_ray.surrogates import onehot_ridge, save_surrogate


def training_rows(runs: list[str]) -> pd.DataFrame:
    """Distinct objects with a finite reward from the runs' Parquet datasets, each in ``index`` order; errors
    name the run."""
    frames = []
    for run in runs:
        if not Path(run).exists():
            raise SystemExit(f"--runs: {run}: not found")
        frame = pd.read_parquet(run)
        missing = {"object", "reward"} - set(frame.columns)
        if missing:
            raise SystemExit(f"--runs: {run}: no column {sorted(missing)[0]!r} (not an svdd_ray run)")
        frames.append(frame.sort_values("index")[["object", "reward"]] if "index" in frame else frame)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[np.isfinite(rows["reward"].astype(float))].drop_duplicates("object").reset_index(drop=True)
    if len(rows) < 10:
        raise SystemExit(f"--runs: {len(rows)} scored objects; a surrogate needs at least 10")
    return rows[["object", "reward"]]


def cross_validated_spearman(make, objects: list, scores: np.ndarray, folds: int, seed: int = 0) -> float:
    """Spearman between held-out predictions (``folds``-fold) and the scores."""
    fold = np.random.default_rng(seed).permutation(len(objects)) % folds
    predicted = np.empty(len(objects))
    for k in range(folds):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        surrogate = make()
        surrogate.fit([objects[i] for i in train], scores[train])
        predicted[test] = surrogate.predict([objects[i] for i in test])
    return float(spearmanr(predicted, scores).statistic)


def learning_curve(make, objects: list, scores: np.ndarray, sizes: list[int], held_out: int) -> list[str]:
    """Spearman on ``held_out`` rows of surrogates fitted on ``size`` other rows, over 5 random draws."""
    lines = []
    for size in sizes:
        if size + held_out > len(objects):
            lines.append(f"{size}: skipped, only {len(objects)} rows for {held_out} held out")
            continue
        rhos = []
        for draw in range(5):
            order = np.random.default_rng(draw).permutation(len(objects))
            train, test = order[:size], order[-held_out:]
            surrogate = make()
            surrogate.fit([objects[i] for i in train], scores[train])
            rhos.append(spearmanr(surrogate.predict([objects[i] for i in test]), scores[test]).statistic)
        lines.append(f"{size}: Spearman {np.mean(rhos):.2f} +- {np.std(rhos):.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="run directories (Parquet datasets)")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--kind", choices=["morgan_ridge", "onehot_ridge"], default="morgan_ridge")
    parser.add_argument("--radius", type=int, default=2, help="morgan_ridge: fingerprint radius")
    parser.add_argument("--n-bits", type=int, default=2048, help="morgan_ridge: fingerprint size")
    parser.add_argument("--alphabet", default="ACGT", help="onehot_ridge: the strings' letters")
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--first", type=int, help="fit on the first N scored objects only; the rest test it")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="training sizes of a learning curve")
    parser.add_argument("--held-out", type=int, default=100, help="rows the learning curve is measured on")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds: must be >= 2")
    if args.l2 <= 0:
        parser.error("--l2: must be > 0")

    if args.first is not None and args.first < 10:
        parser.error("--first: must be >= 10")
    every = training_rows(args.runs)
    rows, rest = every.head(args.first), every.iloc[args.first or len(every) :]
    objects, scores = rows["object"].tolist(), rows["reward"].to_numpy(dtype=np.float64)
    if args.kind == "morgan_ridge":
        options = {"radius": args.radius, "n_bits": args.n_bits}
        make = lambda: morgan_ridge(**options, l2=args.l2)  # noqa: E731 - a factory for each fold
    else:
        options = {"alphabet": args.alphabet}
        make = lambda: onehot_ridge(**options, l2=args.l2)  # noqa: E731
    rho = cross_validated_spearman(make, objects, scores, args.folds)
    surrogate = make()
    surrogate.fit(objects, scores)
    meta = {**options, "kind": args.kind, "l2": args.l2, "runs": args.runs, "rows": len(rows), "cv_spearman": rho}
    if len(rest):  # fitted on the first rows only: the others are a held-out test
        held_out = spearmanr(surrogate.predict(rest["object"].tolist()), rest["reward"]).statistic
        meta.update(first=args.first, held_out_rows=len(rest), held_out_spearman=float(held_out))
    save_surrogate(surrogate.frozen(), args.out, **meta)
    print(f"{args.kind} on {len(rows)} scored objects: {args.folds}-fold Spearman {rho:.3f}; wrote {args.out}")
    if len(rest):
        print(f"  Spearman on the runs' other {len(rest)} scored objects: {meta['held_out_spearman']:.3f}")
    for line in learning_curve(make, objects, scores, args.sizes, args.held_out):
        print(f"  fitted on {line}")


if __name__ == "__main__":
    sys.exit(main())

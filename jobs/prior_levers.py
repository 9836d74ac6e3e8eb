#!/usr/bin/env python
"""Sampling levers of a molecule prior, measured with the MOSES metrics: temperature, SMILES syntax mask, checkpoints.

    python jobs/prior_levers.py --ckpt-dir checkpoints/moses_smiles --num-samples 10000 \\
        --variant temperature=1.0 --variant temperature=0.9 --variant smiles_syntax=true [--extra-ckpt DIR ...]

Each variant is a set of ``load_prior`` overrides; each row samples ``--num-samples`` molecules
(seed 0) and scores them against MOSES test (FCD with fcd_torch's ChemNet, Filters, ring
fractions, SNN, Scaf, IntDiv; novelty against MOSES train). Prints a markdown table and writes
``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments.cards.chem import sample_prior  # noqa: E402
from svdd_ray.chem import metrics  # noqa: E402
from svdd_ray.chem.train import load_prior  # noqa: E402

KEYS = ["validity", "uniqueness", "novelty", "FCD/Test", "Filters", "aromatic", "macrocycle", "SNN/Test", "Scaf/Test"]


def parse_variant(text: str) -> dict:
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-dir", default="checkpoints/moses_smiles")
    parser.add_argument("--extra-ckpt", action="append", default=[], help="another checkpoint, default sampling")
    parser.add_argument("--variant", action="append", default=[], help="load_prior overrides: key=value[,key=value]")
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="logs/prior_levers.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = [(args.ckpt_dir, parse_variant(v)) for v in args.variant or [""]]
    runs += [(path, {}) for path in args.extra_ckpt]
    test, train = metrics.moses_test_stats(), metrics.moses_train_keys()
    rows = []
    for ckpt, overrides in runs:
        model = load_prior(ckpt, **overrides)
        began = time.perf_counter()
        with torch.no_grad():
            smiles = sample_prior(model, args.num_samples, seed=0, batch_size=1000)
        seconds = time.perf_counter() - began
        scores = metrics.evaluate(smiles, train=train, test=test)
        steps = json.loads((Path(ckpt) / "train_log.json").read_text()).get("steps")
        row = {"checkpoint": ckpt, "steps": steps, "overrides": overrides, "sample_s": seconds}
        row.update({k: scores.get(k) for k in KEYS})
        rows.append(row)
        print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print("| checkpoint | train steps | sampling | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 3) + "|")
    for r in rows:
        cells = " | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in KEYS)
        print(f"| `{r['checkpoint']}` | {r['steps']} | {r['overrides'] or 'default'} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One denoiser's throughput: a batch per model call (how a denoiser actor works today) against the model's own
limit on the same rows stacked into one pass, for k batches in flight.

For each prior (the shipped SMILES prior, the DNA prior, the digits DDPM), one batch is ``--batch-size`` chains x
``--candidates`` candidates = B*M rows, at a mid-run step. "per batch" times k sequential ``propose`` calls of
B*M rows (k batches in flight, one pass each); "stacked" times one ``propose`` on the k*B*M rows together (what
continuous batching would run). Both in this process, on one torch thread (as a denoiser actor on a CPU), best of
``--repeats``. The ratio per batch / stacked is the share of the model's batched throughput a denoiser reaches
today; the gap is what coalescing in-flight batches could recover. The GPU figure needs ``--device cuda``.

    python benchmarks/denoiser_throughput.py [--inflight 1 2 4 8 16 32] [--batch-size 16] [--candidates 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import table

from svdd_ray.config import load_config
from svdd_ray.engine.runner import build_model

REPO = Path(__file__).resolve().parents[1]
#: prior -> the shipped config whose model it is
PRIORS = {
    "SMILES (moses_smiles)": "configs/quickstart.yaml",
    "DNA (masked, 200 bp)": "configs/dna_hepg2.yaml",
    "digits (DDPM 8x8)": "configs/digits_compressibility.yaml",
}


def mid_run_state(model, rows: int, seed: int = 0) -> tuple[torch.Tensor, int]:
    """``rows`` states a third of the way through the reverse process, and their step."""
    generator = torch.Generator(device=getattr(model, "device", "cpu")).manual_seed(seed)
    x, t = model.sample_prior(rows, generator), model.num_steps
    for _ in range(max(1, model.num_steps // 3)):
        x, t = model.propose(x, t, generator), t - 1
    return x, t


def best_time(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn`` (seconds), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return min(times)


def measure(model, rows_per_batch: int, inflight: list[int], repeats: int) -> list[list]:
    """Per k: candidate-steps/s one batch per call, stacked, and their ratio."""
    x, t = mid_run_state(model, rows_per_batch * max(inflight))
    generator = torch.Generator(device=x.device).manual_seed(1)
    out = []
    with torch.no_grad():
        for k in inflight:
            parts = [x[i * rows_per_batch : (i + 1) * rows_per_batch] for i in range(k)]
            stacked = x[: k * rows_per_batch]
            per_batch = best_time(lambda parts=parts: [model.propose(p, t, generator) for p in parts], repeats)
            together = best_time(lambda stacked=stacked: model.propose(stacked, t, generator), repeats)
            rows = k * rows_per_batch
            out.append([k, rows, rows / per_batch, rows / together, together / per_batch])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inflight", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="batches in flight")
    parser.add_argument("--batch-size", type=int, default=16, help="chains per batch (B)")
    parser.add_argument("--candidates", type=int, default=8, help="candidates per chain (M)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a CPU denoiser actor has 1)")
    parser.add_argument("--priors", nargs="+", choices=list(PRIORS), default=list(PRIORS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows_per_batch = args.batch_size * args.candidates
    print(
        f"one denoiser, {args.device}, {args.threads} torch thread(s); a batch = {args.batch_size} chains x "
        f"{args.candidates} candidates = {rows_per_batch} rows; candidate-steps/s = rows proposed per second"
    )
    for name in args.priors:
        config = load_config(REPO / PRIORS[name], [f"model.device={args.device}"])
        model = build_model(config)
        rows = measure(model, rows_per_batch, args.inflight, args.repeats)
        print(f"\n{name}")
        headers = ["batches in flight", "rows", "per batch: cand-steps/s", "stacked: cand-steps/s", "ratio"]
        print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

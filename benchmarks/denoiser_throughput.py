"""One denoiser's throughput with k batches in flight: a batch per model call, the batches' calls stacked by
:class:`~svdd_ray.engine.stacking.StackedModel` (what a denoiser actor does), and the model's own limit.

For each prior (the shipped SMILES prior, the DNA prior, the digits DDPM), one batch is ``--batch-size`` chains x
``--candidates`` candidates = B*M rows at a mid-run step, and one step is what an SVDD-PM step asks of the
denoiser: ``propose`` the candidates, then ``predict_x0`` of them. "per batch" runs the k batches' steps one after
the other (one pass each); "stacked" runs them as a denoiser actor does, each batch in its own thread, their calls
stacked into passes of at most ``--max-rows`` rows; "limit" is one ``propose`` and one ``predict_x0`` on all k*B*M
rows (the model's own batched throughput). All in this process, on ``--threads`` torch threads (a CPU denoiser
actor has one), best of ``--repeats``; the ratio stacked / limit is the share of the model's throughput a denoiser
reaches.

    python benchmarks/denoiser_throughput.py [--inflight 1 2 4 8 16 32] [--batch-size 16] [--candidates 8]
        [--max-rows N] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import table

from svdd_ray.config import load_config
from svdd_ray.engine.runner import build_model
from svdd_ray.engine.stacking import StackedModel, default_rows_per_pass

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


def measure(model, rows_per_batch: int, inflight: list[int], repeats: int, max_rows: int) -> list[list]:
    """Per k: candidate-steps/s one batch per pass, stacked, the model's limit, and stacked / limit."""
    x, t = mid_run_state(model, rows_per_batch)
    x = x.repeat(max(inflight), *[1] * (x.dim() - 1))  # the batches' rows (alike: the cost is the same)
    stacked_model = StackedModel(model, max_rows)

    def step(m, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return m.predict_x0(m.propose(rows, t, generator), t - 1)

    out = []
    with torch.no_grad():
        for k in inflight:
            parts = [x[i * rows_per_batch : (i + 1) * rows_per_batch] for i in range(k)]
            generators = [torch.Generator(device=x.device).manual_seed(i) for i in range(k)]
            tasks = [lambda p=p, g=g: step(stacked_model, p, g) for p, g in zip(parts, generators)]
            pairs, together = list(zip(parts, generators)), x[: k * rows_per_batch]
            per_batch = best_time(lambda pairs=pairs: [step(model, p, g) for p, g in pairs], repeats)
            stacked = best_time(lambda tasks=tasks: no_grad_together(stacked_model, tasks), repeats)
            limit = best_time(lambda rows=together, g=generators[0]: step(model, rows, g), repeats)
            rows = k * rows_per_batch
            out.append([k, rows, rows / per_batch, rows / stacked, rows / limit, limit / stacked])
    return out


def no_grad_together(model: StackedModel, tasks: list) -> list:
    """``run_together`` with each task under ``torch.no_grad`` (grad mode is per thread, as in a denoiser actor)."""

    def quiet(task):
        with torch.no_grad():
            return task()

    return model.run_together([lambda task=task: quiet(task) for task in tasks])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inflight", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="batches in flight")
    parser.add_argument("--batch-size", type=int, default=16, help="chains per batch (B)")
    parser.add_argument("--candidates", type=int, default=8, help="candidates per chain (M)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--max-rows", type=int, default=None, help="rows per pass (default: the device's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a CPU denoiser actor has 1)")
    parser.add_argument("--priors", nargs="+", choices=list(PRIORS), default=list(PRIORS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows_per_batch = args.batch_size * args.candidates
    if args.max_rows is None:
        args.max_rows = default_rows_per_pass(args.device)
    print(
        f"one denoiser, {args.device}, {args.threads} torch thread(s); a batch = {args.batch_size} chains x "
        f"{args.candidates} candidates = {rows_per_batch} rows; a step = propose + predict_x0; candidate-steps/s = "
        f"rows stepped per second; passes of at most {args.max_rows} rows"
    )
    for name in args.priors:
        config = load_config(REPO / PRIORS[name], [f"model.device={args.device}"])
        model = build_model(config)
        rows = measure(model, rows_per_batch, args.inflight, args.repeats, args.max_rows)
        print(f"\n{name}")
        headers = ["batches in flight", "rows", "per batch: cand-steps/s", "stacked", "limit", "stacked / limit"]
        print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pipeline efficiency: a sleep-based reward on R reward actors while batches denoise.

Efficiency = ideal time / measured time, where ideal = max(total reward latency / R, total
denoising time / denoiser actors). Actors are started and warmed before the clock starts.
The baseline is the in-process (local) backend on the same work, in the same process.

``--max-rows 0 4096`` runs each R with the denoiser's model calls one per batch (0) and stacked
(``resources.max_rows_per_pass``), in the same process.

    python benchmarks/pipeline.py [--latency 0.01] [--actors 1 2 4 8 16] [--max-rows 4096]
"""

from __future__ import annotations

import argparse
import time

import ray
from common import busy_share, cpu_seconds, demo_config, table, warm_executor

from svdd_ray.engine import check_resources
from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.driver import Driver
from svdd_ray.engine.output import RunOutput
from svdd_ray.report import load_run


def measure(config) -> tuple[float, dict, float, float]:
    """Run one job; return wall seconds (actors warm), totals, summed denoising seconds and the machine's
    busy CPU share meanwhile."""
    executor, keys = warm_executor(config)
    output = RunOutput(config)
    done = output.open()
    cpu = cpu_seconds()
    began = time.perf_counter()
    totals = Driver(config, executor, output, RewardCache(enabled=False), keys).run(done)
    wall = time.perf_counter() - began
    busy = busy_share(cpu, cpu_seconds())
    executor.shutdown()
    frame = load_run(config.run.output_dir).samples
    denoise = float(frame.groupby("batch").denoise_time_s.first().sum())
    return wall, totals, denoise, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.01, help="reward seconds per object")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--max-rows", type=int, nargs="+", default=[4096], help="resources.max_rows_per_pass")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=max(args.actors) + 2, include_dashboard=False, log_to_driver=False)

    def config(backend, actors):
        reward = {
            "target": "sleepy_ones",
            "options": {"latency_s": args.latency},
            "actors": actors,
            "num_cpus": 0.5,
            "chunk_size": 8,
        }
        return demo_config(
            backend=backend,
            reward=reward,
            num_samples=args.samples,
            batch_size=8,
            num_candidates=8,
            length=48,
            num_steps=8,
            inflight=16,
        )

    local_wall, local_totals, _, _ = measure(config("local", 1))
    rows = []
    for r in args.actors:
        for max_rows in args.max_rows:
            cfg = config("ray", r)
            cfg.resources.max_rows_per_pass = max_rows
            check_resources(cfg)
            wall, totals, denoise, busy = measure(cfg)
            ideal = max(totals["reward_calls"] * args.latency / r, denoise)
            per_pass = totals["model_calls"] / max(1, totals["model_passes"])
            speedup = local_wall / wall
            rows.append([r, max_rows, totals["reward_calls"], per_pass, ideal, wall, ideal / wall, speedup, busy])
    print(
        f"reward latency {args.latency * 1000:.0f} ms/object, {args.samples} samples, M=8, T=8, batches of 8, "
        f"16 in flight; in-process baseline: {local_wall:.2f} s for {local_totals['reward_calls']} reward calls"
    )
    headers = ["reward actors", "max rows/pass", "reward calls", "calls/pass", "ideal s", "measured s", "efficiency"]
    print(table([*headers, "speedup vs local", "CPU busy"], rows))


if __name__ == "__main__":
    main()

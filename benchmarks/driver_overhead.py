"""Driver overhead per batch-step with a zero-cost reward.

Baseline: ``svdd_ray.sample`` on the same batches in the same process (no engine). Overhead
per batch-step = (engine wall time - baseline wall time) / batch-steps.

    python benchmarks/driver_overhead.py
"""

from __future__ import annotations

import argparse
import time

import ray
from common import demo_config, table
from pipeline import measure

import svdd_ray
from svdd_ray.demo import bitstrings, ones
from svdd_ray.inprocess import batch_seed

SAMPLES, BATCH, M, STEPS, LENGTH = 256, 16, 8, 16, 16


def baseline() -> float:
    model = bitstrings(length=LENGTH, num_steps=STEPS)
    value = svdd_ray.pm_value(model, ones)
    began = time.perf_counter()
    for b in range(SAMPLES // BATCH):
        svdd_ray.sample(model, value, method="svdd", num_samples=BATCH, num_candidates=M, seed=batch_seed(0, b))
    return time.perf_counter() - began


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    reward = {"target": "ones", "actors": 1, "num_cpus": 0.5, "chunk_size": BATCH * M}
    steps = SAMPLES // BATCH * STEPS
    base = baseline()
    rows = [["in-process sample() (baseline)", base, 0.0]]
    for backend, inflight in [("local", 1), ("ray", 1), ("ray", 4)]:
        cfg = demo_config(
            backend=backend,
            reward=reward,
            num_samples=SAMPLES,
            batch_size=BATCH,
            num_candidates=M,
            length=LENGTH,
            num_steps=STEPS,
            inflight=inflight,
        )
        wall, _, _ = measure(cfg)
        rows.append([f"engine, {backend}, {inflight} in flight", wall, (wall - base) / steps * 1000])
    print(f"{SAMPLES} samples, batches of {BATCH}, M={M}, T={STEPS}: {steps} batch-steps, zero-cost reward")
    print(table(["run", "wall s", "overhead ms / batch-step"], rows))


if __name__ == "__main__":
    main()

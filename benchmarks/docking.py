"""Docking: throughput against the number of docking actors, and docking calls per molecule.

Throughput: ``--molecules`` MOSES test molecules are docked against ``--target`` (AutoDock Vina,
exhaustiveness 1, no cache) by R docking actors of 1 CPU each, through the engine's own
Ray reward pool (``RayRewardPool``), one molecule per call. Every actor is warmed (receptor maps built,
one docking) before the clock starts. The baseline is one warmed ``DockingReward`` docking the
same molecules serially in this process. Speedup is bounded by the machine's cores.

Calls per molecule: for finished docking runs (``jobs/molecule_results.py`` writes them under
``runs/molecules/docking_*``), the candidate evaluations a run made (``value_calls``: what it
would have docked without a cache) against the docking calls it did make (``reward_calls``,
after the per-run and persistent caches), per final molecule.

    python benchmarks/docking.py [--actors 1 2] [--molecules 16] [--runs runs/molecules]

Fidelity (``--fidelity 20000 50000 ...``, instead of the above): the same molecules docked in this
process with Vina's ``max_evals`` capped at each value and with the full search (the baseline,
``max_evals`` 0): seconds per molecule, speedup, Spearman rank correlation with the full scores and
the mean absolute difference. A capped dock is the cheap value of a multi-fidelity plan.

    python benchmarks/docking.py --fidelity 20000 50000 100000 --molecules 64
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import ray
from common import table, warm_executor

from svdd_ray.chem.data import load_smiles
from svdd_ray.chem.docking import DockingReward, timed_docking
from svdd_ray.config import load_config
from svdd_ray.engine import check_resources
from svdd_ray.report import load_run

REPO = Path(__file__).resolve().parents[1]


def docking_config(target: str, actors: int):
    return load_config(
        REPO / "configs" / "molecule_docking_parp1.yaml",
        [
            f"reward.components.0.options={{target: {target}, exhaustiveness: 1, seed: 0, timeout_s: 300}}",
            f"reward.components.0.actors={actors}",
            "reward.components.0.num_cpus=1",
            "resources.denoiser_actors=1",
            "resources.denoiser_num_cpus=0",
            "reward.cache=false",
        ],
    )


def pool_throughput(config, molecules: list[str], warmup: str) -> tuple[float, list[float]]:
    """Seconds for a warmed pool of docking actors to dock ``molecules``, one per call."""
    executor, _ = warm_executor(config)
    pool = executor.pools[config.reward.components[0].name]
    warm = [pool.submit([warmup]) for _ in range(pool.free_slots())]
    for handle in warm:  # each idle actor builds its maps once
        executor.wait([handle], timeout=600)
        pool.result(handle)
    scores: list[float] = []
    pending, queue = [], list(molecules)
    began = time.perf_counter()
    while queue or pending:
        while queue and pool.free_slots():
            pending.append(pool.submit([queue.pop(0)]))
        for handle in executor.wait(pending, timeout=600):
            pending.remove(handle)
            scores += pool.result(handle).scores
    wall = time.perf_counter() - began
    executor.shutdown()
    return wall, scores


def calls_per_molecule(runs: Path) -> list[list]:
    rows = []
    for run in sorted(runs.glob("docking_*")):
        if not any(run.glob("batch-*.parquet")):
            continue
        frame = load_run(run).samples
        per_batch = frame.groupby("batch").first()
        n, evaluated, docked = len(frame), int(per_batch["value_calls"].sum()), int(per_batch["reward_calls"].sum())
        rows.append([run.name.removeprefix("docking_"), n, evaluated / n, docked / n, evaluated / max(docked, 1)])
    return rows


def timed_scores(target: str, max_evals: int, molecules: list[str], warmup: str) -> tuple[float, list[float]]:
    """Seconds per molecule and scores of an in-process ``DockingReward`` (warmed, no cache)."""
    with DockingReward(target=target, exhaustiveness=1, seed=0, timeout_s=300, max_evals=max_evals, cache=False) as r:
        return timed_docking(r, molecules, warmup)


def fidelity_table(target: str, caps: list[int], molecules: list[str], warmup: str) -> None:
    full_s, full = timed_scores(target, 0, molecules, warmup)
    rows = [["full (0)", full_s, 1.0, 1.0, 0.0]]
    for cap in caps:
        seconds, scores = timed_scores(target, cap, molecules, warmup)
        both = pd.DataFrame({"full": full, "capped": scores}).dropna()
        rho = both["full"].corr(both["capped"], method="spearman")
        rows.append([cap, seconds, full_s / seconds, rho, float((both["full"] - both["capped"]).abs().mean())])
    print(
        f"{target}, exhaustiveness 1, {len(molecules)} MOSES test molecules, one core, in process; "
        "reward = -affinity (kcal/mol)"
    )
    print(table(["max_evals", "s per molecule", "speedup vs full", "Spearman vs full", "mean |diff|"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--target", default="PARP1")
    parser.add_argument("--runs", default=str(REPO / "runs" / "molecules"))
    parser.add_argument("--fidelity", type=int, nargs="+", help="Vina max_evals caps to compare with the full search")
    args = parser.parse_args()
    smiles = load_smiles("test", limit=args.molecules + 1)
    warmup, molecules = smiles[0], smiles[1:]
    if args.fidelity:
        fidelity_table(args.target, args.fidelity, molecules, warmup)
        return

    baseline = DockingReward(target=args.target, exhaustiveness=1, seed=0, timeout_s=300)
    baseline([warmup])
    began = time.perf_counter()
    local_scores = baseline(molecules)
    local_wall = time.perf_counter() - began
    baseline.close()

    ray.init(address="local", num_cpus=max(args.actors), include_dashboard=False, log_to_driver=False)
    rows = []
    for r in args.actors:
        config = docking_config(args.target, r)
        check_resources(config)
        wall, scores = pool_throughput(config, molecules, warmup)
        same = sorted(scores) == sorted(local_scores)
        rows.append([r, len(molecules) / wall, wall, local_wall / wall, same])
    ray.shutdown()
    print(
        f"{args.target}, exhaustiveness 1, {len(molecules)} MOSES test molecules, {os.cpu_count()} CPU cores; "
        f"in-process baseline: {local_wall:.1f} s ({len(molecules) / local_wall:.3f} molecules/s)"
    )
    print(table(["docking actors", "molecules/s", "wall s", "speedup vs in-process", "same scores"], rows))

    calls = calls_per_molecule(Path(args.runs))
    if calls:
        print(
            f"\nDocking calls per final molecule in the runs under {args.runs} "
            "(evaluated = candidates scored, what an uncached run docks; docked = calls made):"
        )
        print(table(["run", "molecules", "evaluated per molecule", "docked per molecule", "saved by cache (x)"], calls))


if __name__ == "__main__":
    main()

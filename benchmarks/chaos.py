"""Chaos run: kill a random denoiser or reward actor every few seconds during a Ray run.

The same job runs twice in this process on the same local Ray: undisturbed (the baseline), then
with a thread that kills a random actor (``ray.kill``, Ray restarts it) every ``--kill-every``
seconds. Killed denoisers' batches are replayed by the driver; killed reward actors' calls are
retried by Ray. The output must be identical; the table shows what the faults cost.

    python benchmarks/chaos.py [--kill-every 2.0] [--samples 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import threading
import time

import pandas as pd
import ray
from common import fault_config, table, warm_executor

from svdd_ray.engine.cache import RewardCache
from svdd_ray.engine.driver import Driver
from svdd_ray.engine.output import RunOutput
from svdd_ray.report import load_run

COLUMNS = ["index", "batch", "object", "reward", "invalid"]


def run(config, kill_every: float | None, seed: int) -> tuple[float, dict, list[str], pd.DataFrame]:
    """Wall seconds, totals, the actors killed, and the samples of one run (chaos when ``kill_every``)."""
    executor, keys = warm_executor(config)
    actors = [("denoiser", a) for a in executor.denoisers.actors]
    actors += [("reward", a) for pool in executor.pools.values() for a in pool.actors]
    killed: list[str] = []
    stop = threading.Event()

    def killer() -> None:
        rng = random.Random(seed)
        while not stop.wait(kill_every):
            kind, actor = rng.choice(actors)
            ray.kill(actor, no_restart=False)  # Ray restarts it, as after a preempted node
            killed.append(kind)

    output = RunOutput(config)
    done = output.open()
    thread = threading.Thread(target=killer, daemon=True)
    began = time.perf_counter()
    if kill_every:
        thread.start()
    try:
        totals = Driver(config, executor, output, RewardCache(), keys).run(done)
    finally:
        stop.set()
    wall = time.perf_counter() - began
    executor.shutdown()
    return wall, totals, killed, load_run(config.run.output_dir).samples[COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.01, help="reward seconds per object")
    parser.add_argument("--seed", type=int, default=0, help="which actors get killed")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)

    def config():  # faults are the point here: never give up on a batch or a call
        return fault_config(
            args.samples, args.latency, reward_actors=2, reward_cpus=0.5, denoiser_cpus=0.1, retries=1000
        )

    base_wall, base, _, base_samples = run(config(), None, args.seed)
    wall, totals, killed, samples = run(config(), args.kill_every, args.seed)
    identical = samples.equals(base_samples)
    rows = [
        ["undisturbed", 0, 0, base["reward_calls"], 0, base_wall, "-"],
        [
            f"kill every {args.kill_every:g} s",
            killed.count("denoiser"),
            killed.count("reward"),
            totals["reward_calls"],
            totals["replays"],
            wall,
            "yes" if identical else "NO",
        ],
    ]
    print(
        f"{args.samples} samples, batches of 8, M=4, T=8, 2 denoisers, 2 reward actors "
        f"({args.latency * 1000:.0f} ms/object), cache on"
    )
    headers = ["run", "denoisers killed", "reward actors killed", "reward calls", "replays", "wall s", "identical"]
    print(table(headers, rows))
    print(
        f"extra reward calls: {totals['reward_calls'] - base['reward_calls']} "
        f"(of which replays: {totals['replay_reward_calls']}); extra wall time: {wall - base_wall:.1f} s "
        f"({wall / base_wall:.2f}x)"
    )
    if not identical:
        raise SystemExit("the chaos run's output differs from the undisturbed run")


if __name__ == "__main__":
    main()

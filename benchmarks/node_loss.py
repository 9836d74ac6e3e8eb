"""Node loss: a 2-worker-node Ray cluster on this machine, one worker node's raylet killed mid-run.

Starts its own cluster (a head with no CPUs, worker nodes A and B with 2 CPUs each, all on
127.0.0.1 under a private temp dir, with their own ports), runs a job whose actors need 3 CPUs
(so they span A and B), kills the raylet of a worker node that hosts a denoiser once the run is
under way (its denoiser and reward actors go with it), starts a replacement worker node C (as a
cluster replaces a preempted node), and checks the output equals the same job run undisturbed
on the same cluster. Stops only the processes it started.

    python benchmarks/node_loss.py [--samples 64] [--kill-after 3.0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
from common import fault_config, table

RAY = str(Path(sys.executable).with_name("ray"))
os.environ.setdefault("RAY_AUTH_MODE", "token")  # the nodes and this driver must agree (read when Ray loads)
COLUMNS = ["index", "batch", "object", "reward", "invalid"]


class Cluster:
    """A head and worker nodes started with ``ray start`` under one private temp dir."""

    def __init__(self, port: int) -> None:
        self.temp = tempfile.mkdtemp(prefix="svnl-", dir="/tmp")  # short: Ray's socket paths are length-limited
        self.address = f"127.0.0.1:{port}"
        self.env = dict(os.environ)
        self._start("--head", f"--port={port}", "--num-cpus=0", f"--temp-dir={self.temp}", "--include-dashboard=false")

    def _start(self, *args: str) -> None:
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        subprocess.run([RAY, "start", *args, *common], check=True, env=self.env, capture_output=True, timeout=120)

    def add_node(self, node_manager_port: int, cpus: int = 2) -> None:
        self._start(f"--address={self.address}", f"--num-cpus={cpus}", f"--node-manager-port={node_manager_port}")

    def raylet(self, node_manager_port: int) -> int:
        """The pid of the raylet of the node started with ``node_manager_port``."""
        from svdd_ray.engine import ray_processes  # imports Ray: only after RAY_AUTH_MODE is set

        for pid, proc in ray_processes.processes(f"--node_manager_port={node_manager_port}").items():
            if "raylet" in proc.name() and any(self.temp in arg for arg in proc.cmdline()):
                return pid
        raise RuntimeError(f"no raylet on port {node_manager_port}")

    def stop(self) -> None:
        """Stop every process of this cluster (found by its temp dir), and nothing else."""
        from svdd_ray.engine import ray_processes

        ray_processes.stop(self.temp)
        shutil.rmtree(self.temp, ignore_errors=True)


def denoiser_node_port(ray) -> int | None:
    """The node manager port of a worker node that hosts a live denoiser actor (Ray's GCS actor table)."""
    from ray._private import state

    ports = {n["NodeID"]: n["NodeManagerPort"] for n in ray.nodes() if n["Alive"]}
    for info in state.actors().values():
        if info["ActorClassName"] == "DenoiserActor" and info["State"] == "ALIVE":
            return ports[info["Address"]["NodeID"]]
    return None


def run(config, address: str, kill=None) -> tuple[float, dict, pd.DataFrame]:
    from svdd_ray import engine
    from svdd_ray.report import load_run

    config.resources.address = address
    thread = threading.Thread(target=kill, daemon=True) if kill else None
    began = time.perf_counter()
    if thread:
        thread.start()
    _, totals = engine.run(config)
    wall = time.perf_counter() - began
    if thread:
        thread.join(timeout=60)
    return wall, totals, load_run(config.run.output_dir).samples[COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds after the actors are up to kill")
    parser.add_argument("--port", type=int, default=6419)
    args = parser.parse_args()
    import ray

    cluster = Cluster(args.port)
    try:
        cluster.add_node(46011)  # A
        cluster.add_node(46012)  # B
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)

        def config():  # 2 x 1 + 4 x 0.25 = 3 CPUs: more than one worker node holds
            return fault_config(args.samples, 0.01, reward_actors=4, reward_cpus=0.25, denoiser_cpus=1.0, retries=2)

        base_wall, base, base_samples = run(config(), cluster.address)
        events: dict[str, float] = {}

        def kill_a_denoisers_node_then_replace() -> None:
            deadline = time.monotonic() + 120
            while denoiser_node_port(ray) is None and time.monotonic() < deadline:
                time.sleep(0.2)  # actors are still starting
            time.sleep(args.kill_after)
            port = denoiser_node_port(ray)
            os.kill(cluster.raylet(port), signal.SIGKILL)
            events["killed_node_port"] = port
            time.sleep(2.0)
            cluster.add_node(46013)  # C replaces it

        wall, totals, samples = run(config(), cluster.address, kill_a_denoisers_node_then_replace)
        time.sleep(20)  # until the GCS has marked B dead
        nodes = ray.nodes()
    finally:
        ray.shutdown()
        cluster.stop()
    identical = samples.equals(base_samples)
    print(f"{args.samples} samples, batches of 8, M=4, T=8; 2 denoisers and 4 reward actors over worker nodes A, B")
    rows = [
        ["undisturbed", base["reward_calls"], 0, base_wall, "-"],
        [
            f"a denoiser's node killed {args.kill_after:g} s in, C joins 2 s later",
            totals["reward_calls"],
            totals["replays"],
            wall,
            "yes" if identical else "NO",
        ],
    ]
    print(table(["run", "reward calls", "replays", "wall s", "identical"], rows))
    print(f"nodes: {sum(n['Alive'] for n in nodes)} alive, {sum(not n['Alive'] for n in nodes)} dead; events: {events}")
    extra = totals["reward_calls"] - base["reward_calls"]
    print(f"extra reward calls: {extra}; extra wall time: {wall - base_wall:.1f} s")
    if not identical:
        raise SystemExit("the output after node loss differs from the undisturbed run")


if __name__ == "__main__":
    main()

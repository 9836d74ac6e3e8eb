"""The ``svdd-ray`` command line: ``svdd-ray run CONFIG.yaml [key=value ...]``."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

from svdd_ray.config import ConfigError, load_config
from svdd_ray.errors import RunFailed


class Progress:
    """A tqdm bar over batches with throughput, cache hit rate and the best reward so far."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.began = time.perf_counter()
        self.steps = self.samples = self.reward_calls = 0
        self.best = -math.inf
        self.hit_rate = 0.0

    def __call__(self, event: dict) -> None:
        if not self.enabled:
            return
        if event["kind"] == "waiting":
            need, have = event["need"], event["have"]
            print(
                f"waiting for the cluster to grow: the actors need {need['CPU']:g} CPUs / {need['GPU']:g} GPUs, "
                f"it has {have['CPU']:g} / {have['GPU']:g} ({event['elapsed_s']:.0f} of {event['timeout_s']:g} s)",
                file=sys.stderr,
            )
            return
        if event["kind"] == "replay":
            print(f"batch {event['batch']}: denoiser failed ({event['error']}); replaying it", file=sys.stderr)
            return
        if event["kind"] == "start":
            from tqdm import tqdm

            self.bar = tqdm(total=event["batches"], initial=event["done"], unit="batch", file=sys.stderr)
            return
        if event["kind"] == "step":
            self.steps += 1
        else:
            self.samples += event["samples"]
            self.reward_calls += event["reward_calls"]
            self.hit_rate = event["hit_rate"]
            self.bar.update(1)
        if math.isfinite(event.get("best", math.nan)):
            self.best = max(self.best, event["best"])
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        self.bar.set_postfix(
            steps=self.steps,
            samples_s=f"{self.samples / elapsed:.2f}",
            reward_calls_s=f"{self.reward_calls / elapsed:.1f}",
            cache_hit=f"{self.hit_rate:.0%}",
            best=f"{self.best:.3f}",
            refresh=False,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svdd-ray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or resume) a sampling job from a YAML config")
    run.add_argument("config", help="path to the YAML config")
    run.add_argument("overrides", nargs="*", help="dotted overrides such as run.num_samples=32")
    run.add_argument("--backend", choices=["local", "ray"], help="override resources.backend")
    run.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else an embedded local Ray)")
    run.add_argument("--out", help="override run.output_dir")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    report = sub.add_parser("report", help="summary tables, plots and sample grids from run directories")
    report.add_argument("runs", nargs="+", help="run directories (their Parquet files and manifests)")
    report.add_argument("--out", default="report", help="where to write the report (default: report/)")
    report.add_argument("--top-k", type=int, default=16, help="objects per sample grid")
    report.add_argument(
        "--no-novelty",
        action="store_true",
        help="skip metrics against the domain's reference set (molecules: novelty vs MOSES train; digits: naturalness)",
    )
    return parser


def run_command(args: argparse.Namespace) -> int:
    from svdd_ray import engine

    if os.getcwd() not in sys.path:  # like ``python -m``: "my_rewards:score" in the working directory imports
        sys.path.insert(0, os.getcwd())  # (and Ray's workers inherit the driver's path)

    overrides = list(args.overrides)
    if args.backend:
        overrides.append(f"resources.backend={args.backend}")
    if args.address:
        overrides.append(f"resources.address={args.address}")
    if args.out:
        overrides.append(f"run.output_dir={args.out}")
    config = load_config(args.config, overrides)
    progress = Progress(enabled=not args.quiet)
    try:
        out_dir, totals = engine.run(config, progress)
    finally:
        progress.close()
    print(
        f"wrote {totals['samples']} samples in {totals['batches']} batches to {out_dir} "
        f"({totals['wall_time_s']:.1f} s, {totals['reward_calls']} reward calls, "
        f"cache hit rate {totals['cache_hit_rate']:.0%})"
    )
    return 0


def report_command(args: argparse.Namespace) -> int:
    from svdd_ray.report import write_report

    out = write_report(args.runs, args.out, top=args.top_k, novelty=not args.no_novelty)
    print(f"wrote {out / 'summary.md'} and {out / 'summary.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from svdd_ray.report import RunDirError

    try:
        return run_command(args) if args.command == "run" else report_command(args)
    except (ConfigError, RunDirError) as err:
        print(f"svdd-ray: error: {err}", file=sys.stderr)
        return 2
    except RunFailed as err:
        print(f"svdd-ray: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

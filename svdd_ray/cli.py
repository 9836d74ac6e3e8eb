"""The ``svdd-ray`` command line: ``svdd-ray run CONFIG.yaml [key=value ...]``."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time

from svdd_ray.config import ConfigError, load_config
from svdd_ray.errors import Interrupted, RunFailed


class Progress:
    """Progress on stderr: a bar over batches that moves with the reverse steps of the batches in flight,
    reward calls, cache hits, failures and the best reward so far; notices (waiting, replays, reward
    failures, damaged files) as lines of their own, also when the bar is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.began = time.perf_counter()
        self.done = 0.0  # batches finished (this attempt and earlier ones)
        self.in_flight: dict[int, float] = {}  # batch -> share of its reverse steps done
        self.steps = self.reward_calls = self.failures = 0  # failures: objects a reward raised for
        self.hits = self.lookups = 0
        self.best = -math.inf

    def __call__(self, event: dict) -> None:
        kind = event["kind"]
        if kind in NOTICES:
            print(NOTICES[kind](event), file=sys.stderr)
            return
        if not self.enabled:
            return
        if kind == "start":
            from tqdm import tqdm

            self.done = float(event["done"])
            self.bar = tqdm(
                total=event["batches"],
                initial=self.done,
                unit="batch",
                file=sys.stderr,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} batches [{elapsed}<{remaining}{postfix}]",
            )
            return
        if kind == "step":
            self.steps += 1
            self.hits, self.lookups = event["cache_hits"], event["cache_lookups"]
            share = 1 - event["t"] / max(event["num_steps"], 1)
            self.in_flight[event["batch"]] = max(self.in_flight.get(event["batch"], 0.0), 0.95 * share)
        elif kind == "scored":
            self.reward_calls += event["calls"]
            self.failures += event["failures"]
        elif kind == "batch":
            self.in_flight.pop(event["batch"], None)
            self.done += 1
        if math.isfinite(event.get("best", math.nan)):
            self.best = max(self.best, event["best"])
        self._show()

    def _show(self) -> None:
        if self.bar is None:
            return
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        postfix = {
            "steps": self.steps,
            "reward_calls": f"{self.reward_calls} ({self.reward_calls / elapsed:.1f}/s)",
            "cache_hit": f"{self.hits / self.lookups:.0%}" if self.lookups else "-",
            "best": f"{self.best:.3f}",
        }
        if self.failures:
            postfix["reward_failures"] = self.failures
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(self.done + sum(self.in_flight.values()) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


#: Events shown as a line of their own (also with --quiet).
NOTICES = {
    "waiting": lambda e: (
        f"waiting for the cluster to grow: the actors need {e['need']['CPU']:g} CPUs / {e['need']['GPU']:g} GPUs, "
        f"it has {e['have']['CPU']:g} / {e['have']['GPU']:g} ({e['elapsed_s']:.0f} of {e['timeout_s']:g} s)"
    ),
    "replay": lambda e: f"batch {e['batch']}: denoiser failed ({e['error']}); replaying it",
    "reward_failure": lambda e: (
        f"reward {e['component']!r} ({e['target']}) failed: {e['error']} "
        "(its first failure; those objects count as invalid and the run goes on)"
    ),
    "damaged": lambda e: f"redoing damaged batch files: {', '.join(e['files'])}",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"svdd-ray: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="svdd-ray", description=__doc__)
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
    if totals.get("already_complete"):
        print(f"{out_dir} already holds this run, complete: {totals['samples']} samples; nothing to do")
        return 0
    failures = {name: n for name, n in totals["reward_failures"].items() if n}
    if failures:
        print(
            "reward failures (objects counted invalid): " + ", ".join(f"{k} {v}" for k, v in failures.items()),
            file=sys.stderr,
        )
    print(
        f"wrote {totals['samples']} samples in {totals['batches']} batches to {out_dir} "
        f"({totals['wall_time_s']:.1f} s, {totals['reward_calls']} reward calls "
        f"+ {totals['probe_reward_calls']} to probe the rewards, cache hit rate {totals['cache_hit_rate']:.0%})"
    )
    return 0


def report_command(args: argparse.Namespace) -> int:
    from svdd_ray.report import write_report

    out = write_report(args.runs, args.out, top=args.top_k, novelty=not args.no_novelty)
    print(f"wrote {out / 'summary.md'} and {out / 'summary.html'}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``key=value`` overrides may come before, between or after the --options."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in extra if a.startswith("-") or "=" not in a or args.command != "run"]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def _interrupt(signum: int, frame) -> None:
    """First Ctrl-C / SIGTERM: unwind cleanly (KeyboardInterrupt); a second one exits at once."""
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)
    raise KeyboardInterrupt


def _exit_now(signum: int, frame) -> None:
    print("\nsvdd-ray: interrupted again; exiting now", file=sys.stderr)
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from svdd_ray.report import RunDirError

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_command(args) if args.command == "run" else report_command(args)
    except (ConfigError, RunDirError) as err:
        print(f"svdd-ray: error: {err}", file=sys.stderr)
        return 2
    except RunFailed as err:
        print(f"svdd-ray: error: {err}", file=sys.stderr)
        return 1
    except (Interrupted, KeyboardInterrupt) as err:
        print(f"\nsvdd-ray: {err or 'interrupted'}", file=sys.stderr)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

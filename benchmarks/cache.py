"""Reward calls made versus candidates scored, with and without the reward cache.

    python benchmarks/cache.py configs/quickstart.yaml [key=value ...]

Runs the config twice on the local backend (cache on, then off; same samples) and prints
how many candidates were scored and how many reward calls that took. With the cache off,
identical candidates within one step are still scored once; across steps they are not.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import table

from svdd_ray import engine
from svdd_ray.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="a run config, e.g. configs/quickstart.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = parser.parse_args()
    rows = []
    for cache in (True, False):
        out = Path(tempfile.mkdtemp(prefix="svdd-cache-")) / "run"
        overrides = [
            *args.overrides,
            f"reward.cache={cache}",
            "reward.cache_file=null",
            f"run.output_dir={out}",
            "resources.backend=local",
        ]
        _, totals = engine.run(load_config(args.config, overrides))
        rows.append(
            [
                f"cache {'on' if cache else 'off'}",
                totals["samples"],
                totals["candidates_scored"],
                totals["reward_calls"],
                totals["candidates_scored"] / max(totals["reward_calls"], 1),
                totals["reward_calls"] / totals["samples"],
            ]
        )
    print(f"config {args.config} {' '.join(args.overrides)}")
    print(
        table(
            ["run", "samples", "candidates scored", "reward calls", "candidates per call", "reward calls per sample"],
            rows,
        )
    )
    print(f"reward calls saved by the cross-step cache: {1 - rows[0][3] / rows[1][3]:.1%}")


if __name__ == "__main__":
    main()

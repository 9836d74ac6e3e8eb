"""Ray Jobs entry point: ``ray job submit --working-dir . -- python jobs/run_svdd.py --config CONFIG``.

Inside a submitted job RAY_ADDRESS is set, so the run joins that cluster.
"""

from __future__ import annotations

import argparse
import sys

from svdd_ray.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    argv = ["run", args.config, *args.overrides, "--backend", "ray", "--quiet"]
    if args.out:
        argv += ["--out", args.out]
    sys.exit(main(argv))

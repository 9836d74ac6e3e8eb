#!/usr/bin/env python
"""Train a pretrained diffusion prior from a YAML config.

    python jobs/train_prior.py --config configs/prior_moses.yaml [--out DIR] [--set KEY=VALUE ...]

The config's ``domain:`` picks the trainer:

* ``molecules``: :func:`svdd_ray.chem.train.train_prior` (masked diffusion on MOSES SELFIES);
* ``digits``: :func:`svdd_ray.images.train.train_prior` (Gaussian diffusion on digit images).

``--set train.max_minutes=3`` overrides one (dotted) key; the value is parsed as YAML.
The output directory is ``--out``, else the config's ``out_dir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def apply_override(config: dict, assignment: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) in a nested dict."""
    if "=" not in assignment:
        raise SystemExit(f"--set expects KEY=VALUE, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    node = config
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SystemExit(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config with a 'domain:' key")
    parser.add_argument("--out", default=None, help="output directory (default: config's out_dir)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. train.max_minutes=3 (repeatable)",
    )
    args = parser.parse_args(argv)

    config = yaml.safe_load(Path(args.config).read_text()) or {}
    for assignment in args.set:
        apply_override(config, assignment)
    out_dir = args.out or config.get("out_dir")
    if not out_dir:
        raise SystemExit("no output directory: pass --out or set out_dir in the config")
    config["out_dir"] = str(out_dir)

    domain = config.get("domain")
    if domain == "molecules":
        from svdd_ray.chem.train import train_prior
    elif domain == "digits":
        from svdd_ray.images.train import train_prior
    else:
        raise SystemExit(f"{args.config}: unknown domain {domain!r} (expected 'molecules' or 'digits')")
    train_prior(config, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

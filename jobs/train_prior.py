#!/usr/bin/env python
"""Train a pretrained diffusion prior from a YAML config.

    python jobs/train_prior.py --config configs/prior_moses.yaml [--out DIR] [--set KEY=VALUE ...]

The config's ``domain:`` picks the training-config schema and the trainer:

* ``molecules``: :class:`svdd_ray.chem.train.MolPriorConfig` (masked diffusion on MOSES SELFIES);
* ``digits``: :class:`svdd_ray.images.train.DigitsPriorConfig` (Gaussian diffusion on digit images);
* ``dna``: :class:`svdd_ray.dna.prior.DnaPriorConfig` (masked diffusion on 200-bp DNase sites).

``--set train.max_minutes=3`` overrides one (dotted) key; the value is parsed as YAML.
The output directory is ``--out``, else the config's ``output_dir``. A bad config (unknown key,
wrong type, unknown domain) is one line on stderr and exit status 2, before anything is written.
A trained digits prior gets its ``MODEL_CARD.md`` (:mod:`experiments.cards`); for the others the
card is a longer, separate evaluation, and its command is printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from experiments.cards import after_training  # noqa: E402
from svdd_ray import plugins  # noqa: E402
from svdd_ray.config import apply_override, load_config, read_yaml_file  # noqa: E402
from svdd_ray.errors import ConfigError  # noqa: E402


def _trainer(path: str, overrides: list[str]) -> tuple[Any, type]:
    """The trainer module and schema of the config's ``domain`` (after ``overrides``)."""
    data = read_yaml_file(path)
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for override in overrides:
        apply_override(data, override)
    domain = data.get("domain")
    trainers = plugins.BUILTINS["prior trainer"]
    if domain not in trainers:
        raise ConfigError(f"config.domain: unknown domain {domain!r} (one of {', '.join(sorted(trainers))})")
    schema = plugins.resolve("prior trainer", domain, "config.domain")
    return importlib.import_module(schema.__module__), schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config with a 'domain:' key")
    parser.add_argument("--out", default=None, help="output directory (default: config's output_dir)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. train.max_minutes=3 (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        trainer, schema = _trainer(args.config, args.set)
        config = load_config(args.config, args.set, schema=schema)
        config.output_dir = str(args.out or config.output_dir or "")
        if not config.output_dir:
            raise ConfigError("config.output_dir: no output directory (pass --out or set output_dir in the config)")
        result = trainer.train_prior(config, config.output_dir)
    except ConfigError as err:
        print(f"train_prior: error: {err}", file=sys.stderr)
        return 2
    message = after_training(config.domain, config.output_dir, result)
    if message:
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

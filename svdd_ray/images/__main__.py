"""``python -m svdd_ray.images CONFIG.yaml OUT_DIR``: train and evaluate the digits prior.

The model card is written outside the library: ``python -m experiments.cards.images OUT_DIR``
(``python jobs/train_prior.py`` trains and writes it in one go).
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Validate ``CONFIG.yaml`` as a :class:`~svdd_ray.images.train.DigitsPriorConfig` and train into ``OUT_DIR``."""
    from svdd_ray.config import load_config
    from svdd_ray.errors import ConfigError
    from svdd_ray.images.train import DigitsPriorConfig, train_prior

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2:
        print("usage: python -m svdd_ray.images CONFIG.yaml OUT_DIR", file=sys.stderr)
        return 2
    try:
        metrics = train_prior(load_config(argv[0], schema=DigitsPriorConfig), argv[1])
    except ConfigError as err:
        print(f"python -m svdd_ray.images: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if k != "loss_log"}, indent=2))
    if metrics.get("finished", True):
        print(f"MODEL_CARD.md: python -m experiments.cards.images {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

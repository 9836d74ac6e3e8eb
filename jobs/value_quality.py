#!/usr/bin/env python
"""Where does a value carry signal? Spearman between the PM value at each step and the final reward.

    python jobs/value_quality.py --config configs/dna_hepg2.yaml --fills argmax soft uniform \\
        --rollouts 256 [--out docs/value_quality_dna.md] [--set KEY=VALUE ...]

Runs pretrained rollouts of the config's model (``--set`` overrides as for ``svdd-ray run``), scores every
intermediate state with the config's reward under each ``value.fill``, and prints one row per step:
the share of the reverse process done, and per fill the Spearman correlation of the value with the
rollout's own final reward (``svdd_ray.values.value_quality``). Selection by a value whose
correlation is near 0 is selection at random: start a selection window where it rises. With
``--out``, writes the table as Markdown and a plot beside it. Costs rollouts x steps reward calls
per fill, in-process.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from svdd_ray.config import ConfigError, load_config  # noqa: E402
from svdd_ray.engine.runner import build_model  # noqa: E402
from svdd_ray.protocol import FILLS  # noqa: E402
from svdd_ray.rewards import reward_function  # noqa: E402
from svdd_ray.values import pm_value, value_quality  # noqa: E402


def measure(config_path: Path, overrides: list[str], fills: list[str], rollouts: int, seed: int) -> dict[str, list]:
    """``fill -> rows of value_quality`` for the model and reward of a run config (same rollouts for every fill)."""
    config = load_config(config_path, overrides)
    model = build_model(config)
    reward = reward_function(config.reward.components)
    values = {}
    for fill in fills:  # every fill checked before any is measured
        try:
            values[fill] = pm_value(model, reward, fill)
        except ValueError as err:
            raise ConfigError(f"--fills {fill}: {err}") from None
    return {fill: value_quality(model, value, num_rollouts=rollouts, seed=seed) for fill, value in values.items()}


def markdown(results: dict[str, list]) -> str:
    fills = list(results)
    lines = [
        "| t | share of steps done | " + " | ".join(f"Spearman, {f} (value sd)" for f in fills) + " |",
        "|" + "---|" * (2 + len(fills)),
    ]
    for i, row in enumerate(next(iter(results.values()))):
        cells = [f"{results[f][i]['spearman']:.2f} ({results[f][i]['value_sd']:.2f})" for f in fills]
        lines.append(f"| {row['t']} | {row['done']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, list], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for fill, rows in results.items():
        ax.plot([r["done"] for r in rows], [r["spearman"] for r in rows], marker="o", ms=3, label=fill)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("share of the reverse process done")
    ax.set_ylabel("Spearman(value at step, final reward)")
    ax.legend(title="value.fill")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--fills", nargs="+", default=["argmax"], choices=FILLS, metavar="FILL")
    parser.add_argument("--rollouts", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the table (Markdown) and a plot (.png)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override, as for svdd-ray run (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.rollouts < 2:
        parser.error(f"--rollouts must be >= 2, got {args.rollouts}")
    try:
        results = measure(args.config, args.overrides, args.fills, args.rollouts, args.seed)
    except ConfigError as err:
        print(f"value_quality: error: {err}", file=sys.stderr)
        return 2
    table = markdown(results)
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image = plot(results, args.out.with_suffix(".png"))
        command = "python jobs/value_quality.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(
            f"# Value quality: {args.config}\n\nRegenerate: `{command}`\n\n{args.rollouts} pretrained rollouts, "
            f"seed {args.seed}.\n\n{table}\n\n![value quality]({image.name})\n"
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: steering the digits prior toward "is a 3" and toward JPEG compressibility.

Usage::

    python benchmarks/images_digits.py [--num-samples 64] [--num-candidates 8] [--out benchmarks/images_digits.json]

For each reward it runs the svdd_ray samplers on the committed prior (``checkpoints/digits``)
and reports the mean reward of the final samples, how many states the value scored, wall time,
the fraction of samples the classifier calls a 3 with p > 0.5, and the sample quality
(classifier confidence; Frechet distance to all held-out digits and to the held-out 3s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from svdd_ray import pm_value, sample
from svdd_ray.images import DigitReward, compressibility, from_uint8_images, load_digits_split, load_prior
from svdd_ray.images.classifier import load_classifier
from svdd_ray.images.metrics import sample_quality


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    model = load_prior(num_steps=args.num_steps)
    digit = DigitReward(target=args.target)
    classifier = load_classifier()
    split = load_digits_split()
    heldout = split.heldout_images
    heldout_target = heldout[split.heldout_labels == args.target]
    n, k = args.num_samples, args.num_candidates
    runs = {
        "digit": [
            ("pretrained", {}),
            ("best_of_n", {"num_candidates": k}),
            ("svdd", {"num_candidates": k, "alpha": 0.0}),
            ("smc", {"num_candidates": k, "alpha": 1.0}),
            ("beam", {"num_candidates": k}),
            *[("dps", {"guidance_scale": s}) for s in args.dps_scales],
        ],
        "compressibility": [
            ("pretrained", {}),
            ("best_of_n", {"num_candidates": k}),
            ("svdd", {"num_candidates": k, "alpha": 0.0}),
            ("smc", {"num_candidates": k, "alpha": 2.0}),
        ],
    }
    results = []
    for reward_name, methods in runs.items():
        reward = digit if reward_name == "digit" else compressibility
        for method, options in methods:
            value = digit.guide(model) if method == "dps" else pm_value(model, reward)
            start = time.perf_counter()
            res = sample(model, value, method=method, num_samples=n, seed=args.seed, **options)
            wall = time.perf_counter() - start
            objects = res.objects
            digit_lp = np.array(digit(objects))
            comp = np.array(compressibility(objects))
            x_obj = from_uint8_images(objects)
            quality = sample_quality(x_obj, classifier, heldout)
            fd_target = sample_quality(x_obj, classifier, heldout_target)["frechet"]
            row = {
                "reward": reward_name,
                "method": method,
                **{key: v for key, v in options.items()},
                "mean_log_p_target": float(np.nanmean(digit_lp)),
                "frac_target": float(np.mean(np.exp(digit_lp) > 0.5)),
                "mean_compressibility_bytes": float(np.nanmean(comp)),
                "mean_max_prob": quality["mean_max_prob"],
                "frechet_vs_heldout": quality["frechet"],
                "frechet_vs_heldout_target": fd_target,
                "value_calls": res.value_calls,
                "wall_s": round(wall, 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return {
        "config": {
            "num_samples": n,
            "num_candidates": k,
            "num_steps": args.num_steps,
            "target": args.target,
            "seed": args.seed,
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "results": results,
    }


def markdown(report: dict) -> str:
    cfg = report["config"]
    lines = [
        "# Digits prior steering benchmark\n",
        f"{cfg['num_samples']} samples per method, {cfg['num_candidates']} candidates, {cfg['num_steps']} DDPM steps, "
        f"target digit {cfg['target']}, seed {cfg['seed']}, {cfg['threads']} CPU thread(s), torch {cfg['torch']}.",
        "Frechet: against all held-out digits / against the held-out digits of the target class (digit-classifier "
        "features; lower is closer). frac target: share of samples the classifier calls the target with p > 0.5.\n",
        "| reward | method | options | mean log p(target) | frac target | mean -JPEG bytes | max-prob "
        "| Frechet all / target | value calls | wall s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        opts = ", ".join(f"{k}={r[k]}" for k in ("num_candidates", "alpha", "guidance_scale") if k in r)
        lines.append(
            f"| {r['reward']} | {r['method']} | {opts} | {r['mean_log_p_target']:.3f} | {r['frac_target']:.3f} | "
            f"{r['mean_compressibility_bytes']:.1f} | {r['mean_max_prob']:.3f} | "
            f"{r['frechet_vs_heldout']:.1f} / {r['frechet_vs_heldout_target']:.1f} | "
            f"{r['value_calls']} | {r['wall_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=128)
    parser.add_argument("--num-candidates", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=50)
    parser.add_argument("--target", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dps-scales", type=float, nargs="*", default=[0.1, 0.3, 1.0])
    parser.add_argument("--out", default="benchmarks/images_digits.json")
    args = parser.parse_args()
    report = run(args)
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

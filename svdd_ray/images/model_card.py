"""Evaluate a trained digits prior and write its model card.

:func:`evaluate_prior` samples the prior, scores the samples against held-out digits and two
baselines with the digit classifier, and writes ``samples.png``, ``comparison.png``,
``metrics.json`` and ``MODEL_CARD.md`` (:func:`model_card`) into the checkpoint directory.
:func:`svdd_ray.images.train.train_prior` calls it after training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import yaml

from .classifier import accuracy, load_classifier
from .data import from_uint8_images, load_digits_split, to_uint8_images
from .figures import comparison_figure, image_grid, save_png
from .metrics import gaussian_noise_baseline, marginal_baseline, sample_quality
from .network import count_parameters

if TYPE_CHECKING:
    from .train import DigitsPriorConfig

__all__ = ["evaluate_prior", "model_card", "sample_pretrained"]


@torch.no_grad()
def sample_pretrained(model, n: int, generator: torch.Generator, batch_size: int = 500) -> torch.Tensor:
    """``n`` plain ancestral samples ``x0`` through the DiffusionModel protocol."""
    out = []
    for start in range(0, n, batch_size):
        x = model.sample_prior(min(batch_size, n - start), generator)
        for t in range(model.num_steps, 0, -1):
            x = model.propose(x, t, generator)
        out.append(x.cpu())
    return torch.cat(out)


@torch.no_grad()
def evaluate_prior(
    model, config: DigitsPriorConfig | dict, out_dir: str | os.PathLike, training: dict | None = None
) -> dict:
    """Sample from ``model``, score quality vs held-out digits and baselines, write figures, metrics, card.

    ``out_dir`` must hold ``classifier.pt`` (and ``prior.pt`` for its size). ``training`` holds the
    training facts to record (wall time, steps, loss log); re-evaluating a committed checkpoint
    passes the ones from its existing ``metrics.json``.
    """
    from .train import as_config

    cfg = as_config(config)
    out = Path(out_dir)
    ecfg = cfg.eval
    split = load_digits_split(cfg.data.resolution, cfg.data.heldout_fraction, cfg.data.split_seed)
    eval_start = time.perf_counter()
    egen = torch.Generator().manual_seed(ecfg.seed)
    n_eval = ecfg.num_samples
    images = to_uint8_images(sample_pretrained(model, n_eval, egen))
    sample_wall = time.perf_counter() - eval_start
    classifier = load_classifier(out / "classifier.pt")
    heldout, train_x = split.heldout_images, split.train_images
    quantise = lambda x: from_uint8_images(to_uint8_images(x))  # noqa: E731 - what rewards see
    baselines = {
        "gaussian_noise": quantise(gaussian_noise_baseline(n_eval, tuple(heldout.shape[1:]), egen)),
        "pixel_marginals": quantise(marginal_baseline(train_x, n_eval, egen)),
    }
    quality = {
        "model": sample_quality(from_uint8_images(images), classifier, heldout, train_x),
        "train_digits": sample_quality(quantise(train_x), classifier, heldout, None),
        "heldout_digits": sample_quality(quantise(heldout), classifier, heldout, train_x),
        **{name: sample_quality(x, classifier, heldout, train_x) for name, x in baselines.items()},
    }
    save_png(image_grid(images, ecfg.grid_rows, ecfg.grid_cols, scale=6), out / "samples.png")
    save_png(
        comparison_figure(
            [
                ("held-out digits", to_uint8_images(heldout[:64])),
                ("model samples", images[:64]),
                ("pixel marginals", to_uint8_images(baselines["pixel_marginals"][:64])),
                ("gaussian noise", to_uint8_images(baselines["gaussian_noise"][:64])),
            ],
            scale=5,
        ),
        out / "comparison.png",
    )
    metrics = {
        **(training or {}),
        "sampling_wall_time_s": round(sample_wall, 1),
        "num_parameters": count_parameters(model.network),
        "checkpoint_bytes": (out / "prior.pt").stat().st_size,
        "classifier_heldout_accuracy": accuracy(classifier, heldout, split.heldout_labels),
        "quality": quality,
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "MODEL_CARD.md").write_text(model_card(cfg, metrics))
    return metrics


def model_card(cfg: DigitsPriorConfig, metrics: dict) -> str:
    """The markdown model card for a trained digits prior."""
    q = metrics["quality"]
    rows = [
        ("heldout_digits", "held-out digits (reference vs itself)"),
        ("train_digits", "training digits"),
        ("model", "**diffusion prior samples**"),
        ("pixel_marginals", "baseline: independent per-pixel marginals"),
        ("gaussian_noise", "baseline: Gaussian noise, clipped"),
    ]

    def nn(k: str) -> str:
        return f"{q[k]['nn_train_l2']:.2f} / {q[k]['nn_train_l2_min']:.2f}" if "nn_train_l2" in q[k] else "-"

    table = "\n".join(
        f"| {label} | {q[k]['n']} | {q[k]['mean_max_prob']:.3f} | {q[k]['frechet']:.2f} | "
        f"{q[k]['class_entropy']:.3f} | {nn(k)} |"
        for k, label in rows
    )
    diff, data = cfg.diffusion, cfg.data
    return f"""# Digits diffusion prior (svdd_ray.images)

An epsilon-prediction DDPM over scikit-learn's bundled 8x8 handwritten digits (values 0..16
scaled to [-1, 1]), used as the pretrained model that SVDD steers. Load it with
`svdd_ray.images.load_prior()` (a `svdd_ray.models.GaussianDiffusion` whose `decode` gives uint8
8x8 arrays).

- Data: {q["train_digits"]["n"]} training / {q["heldout_digits"]["n"]} held-out digits, native 8x8
  (`load_digits_split(seed={data.split_seed}, heldout_fraction={data.heldout_fraction})`).
- Network: `DigitsUNet`, {metrics["num_parameters"]:,} parameters; `prior.pt` is the EMA network's
  `state_dict` ({metrics["checkpoint_bytes"] / 1e6:.2f} MB, `torch.load(..., weights_only=True)`).
- Diffusion: {diff.num_train_steps} training timesteps, {diff.schedule} schedule, sampling with
  {diff.num_steps} {diff.scheduler} steps, x0 clipped to +-{diff.clip_x0}.
- Training: {metrics["train_steps"]} steps of batch {cfg.train.batch_size} in
  **{metrics["train_wall_time_s"] / 60:.1f} min** wall time on {metrics["environment"]["threads"]} CPU thread
  (torch {metrics["environment"]["torch"]}); final loss {metrics["final_loss"]:.4f}.
  Sampling {q["model"]["n"]} images took {metrics["sampling_wall_time_s"]:.1f} s.
- Digit classifier (`classifier.pt`, `svdd_ray.images.DigitClassifier`, 3 conv layers + 2 linear,
  SiLU, trained 40 epochs with +-1 pixel shifts and pixel noise on the training split): held-out
  accuracy **{metrics["classifier_heldout_accuracy"]:.4f}**.

## Samples

![samples](samples.png)

Held-out digits, model samples and the two baselines side by side:

![comparison](comparison.png)

## Quality against held-out digits

Features and probabilities come from the digit classifier. `max-prob`: mean max class probability
(is it *some* digit); `Frechet`: Frechet distance between Gaussians fitted to penultimate-layer
features of the images and of the held-out digits (lower is better; the held-out row is 0 by
construction, the training-digits row is the sampling-noise floor); `entropy`: entropy of the
predicted-label histogram (uniform over 10 digits = 2.303); `NN-L2`: mean / smallest L2 distance
(pixels in [-1, 1]) to the nearest training digit (memorisation check: compare with the held-out
row). All images are quantised to uint8 first, as the rewards see them.

| images | n | max-prob | Frechet | entropy | NN-L2 mean / min |
| --- | ---: | ---: | ---: | ---: | ---: |
{table}

{_notes(q)}

## Resolved config

```yaml
{yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False).rstrip()}
```

Reproduce: `python jobs/train_prior.py --config configs/prior_digits.yaml` (or
`python -m svdd_ray.images configs/prior_digits.yaml checkpoints/digits`). The classifier is trained
first (about 30 s) when the output directory has no `classifier.pt`. Everything is seeded; on one
CPU thread a given torch build repeats the run.
"""


def _notes(q: dict) -> str:
    model_nn, heldout_nn = q["model"].get("nn_train_l2"), q["heldout_digits"].get("nn_train_l2")
    lines = [
        f"Reading: the prior's samples are classified nearly as confidently as real digits "
        f"({q['model']['mean_max_prob']:.3f} vs {q['heldout_digits']['mean_max_prob']:.3f}), cover all ten classes "
        f"(entropy {q['model']['class_entropy']:.3f}), and their Frechet distance ({q['model']['frechet']:.2f}) is "
        f"close to the floor set by real training digits ({q['train_digits']['frechet']:.2f}) and far from the "
        f"baselines ({q['pixel_marginals']['frechet']:.1f}, {q['gaussian_noise']['frechet']:.1f})."
    ]
    if model_nn is not None and heldout_nn:
        closer = 100.0 * (1.0 - model_nn / heldout_nn)
        model_min, heldout_min = q["model"]["nn_train_l2_min"], q["heldout_digits"]["nn_train_l2_min"]
        copies = (
            "no sample is closer to a training digit than the closest held-out digit is"
            if (model_min >= heldout_min)
            else "some samples are closer to a training digit than any held-out digit is"
        )
        lines.append(
            f"Samples lie on average {abs(closer):.0f}% {'closer to' if closer > 0 else 'farther from'} their "
            f"nearest training digit than held-out digits do "
            + ("(some pull toward the training set)" if closer > 5 else "(no sign of memorisation)")
            + f"; {copies} (min {model_min:.2f} vs {heldout_min:.2f})."
        )
    lines.append(
        "Wall times were measured on a shared 2-core machine with other jobs running (load about 4), one torch "
        "thread; an idle core is faster."
    )
    return "\n\n".join(lines)

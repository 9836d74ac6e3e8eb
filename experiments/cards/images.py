"""The model card of the digits prior, ``checkpoints/digits/MODEL_CARD.md``, from its saved files.

    python -m experiments.cards.images [CHECKPOINT_DIR]     # default: checkpoints/digits

:func:`render` turns the checkpoint's ``config.yaml`` and ``metrics.json`` (written by
:func:`svdd_ray.images.train.train_prior`, which trains and evaluates) into Markdown; nothing is
sampled or trained, so the committed card comes back byte for byte. Sections of an existing card
that :func:`render` does not write (the value networks' notes) are kept, after the written ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import yaml

from svdd_ray.images.classifier import default_checkpoint_dir

__all__ = ["render", "write_card", "main"]

#: The sections :func:`render` writes; an existing card's other ``## `` sections are hand-written and kept.
SECTIONS = ("## Samples", "## Quality against held-out digits", "## Resolved config")


def kept_sections(card: str) -> str:
    """The ``## `` sections of ``card`` that :func:`render` does not write, in their order."""
    parts = re.split(r"(?m)^(?=## )", card)
    return "".join(part for part in parts[1:] if not part.startswith(SECTIONS))


def write_card(directory: str | os.PathLike) -> Path:
    """Write ``MODEL_CARD.md`` into ``directory`` from its ``config.yaml`` and ``metrics.json``."""
    directory = Path(directory)
    config = yaml.safe_load((directory / "config.yaml").read_text())
    metrics = json.loads((directory / "metrics.json").read_text())
    path = directory / "MODEL_CARD.md"
    kept = kept_sections(path.read_text()) if path.is_file() else ""
    path.write_text(render(config, metrics) + ("\n" + kept if kept else ""))
    return path


def render(config: dict, metrics: dict) -> str:
    """The Markdown card of a trained digits prior: its saved ``config.yaml`` (a mapping) and ``metrics.json``."""
    q = metrics["quality"]
    final_loss = "-" if metrics.get("final_loss") is None else f"{metrics['final_loss']:.4f}"  # None: under log_every
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
    diff, data, train = config["diffusion"], config["data"], config["train"]
    scheduler = diff.get("scheduler", diff.get("sampler"))  # checkpoints saved before the rename
    return f"""# Digits diffusion prior (svdd_ray.images)

An epsilon-prediction DDPM over scikit-learn's bundled 8x8 handwritten digits (values 0..16
scaled to [-1, 1]), used as the pretrained model that SVDD steers. Load it with
`svdd_ray.images.load_prior()` (a `svdd_ray.models.GaussianDiffusion` whose `decode` gives uint8
8x8 arrays).

- Data: {q["train_digits"]["n"]} training / {q["heldout_digits"]["n"]} held-out digits, native 8x8
  (`load_digits_split(seed={data["split_seed"]}, heldout_fraction={data["heldout_fraction"]})`).
- Network: `DigitsUNet`, {metrics["num_parameters"]:,} parameters; `prior.pt` is the EMA network's
  `state_dict` ({metrics["checkpoint_bytes"] / 1e6:.2f} MB, `torch.load(..., weights_only=True)`).
- Diffusion: {diff["num_train_steps"]} training timesteps, {diff["schedule"]} schedule, sampling with
  {diff["num_steps"]} {scheduler} steps, x0 clipped to +-{diff["clip_x0"]}.
- Training: {metrics["train_steps"]} steps of batch {train["batch_size"]} in
  **{metrics["train_wall_time_s"] / 60:.1f} min** wall time on {metrics["environment"]["threads"]} CPU thread
  (torch {metrics["environment"]["torch"]}); final loss {final_loss}.
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
{yaml.safe_dump(config, sort_keys=False).rstrip()}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a digits prior's MODEL_CARD.md from its config and metrics")
    parser.add_argument("directory", nargs="?", type=Path, default=None, help="default: checkpoints/digits")
    args = parser.parse_args(argv)
    print(f"wrote {write_card(args.directory or default_checkpoint_dir())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

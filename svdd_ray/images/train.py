"""Train and evaluate the digits prior: a :class:`svdd_ray.models.GaussianDiffusion` over :class:`DigitsUNet`.

Entry point: :func:`train_prior(config, out_dir)` with a :class:`DigitsPriorConfig` (``domain: digits``),
called by ``jobs/train_prior.py``. Training is :func:`svdd_ray.training.train_prior_loop` (resumable
with ``train.resume: true``). Writes into ``out_dir``:

* ``prior.pt`` - the (EMA) network's ``state_dict`` (load with :func:`load_prior`);
* ``config.yaml`` - the validated configuration;
* ``classifier.pt`` - the digit classifier (trained first if ``out_dir`` has none);
* ``train_log.json``, ``train_state.pt`` - the training log and what a resumed run continues from;
* ``samples.png``, ``comparison.png`` and ``metrics.json`` (:func:`evaluate_prior`), once training is finished.

The model card (``MODEL_CARD.md``) is written from ``metrics.json`` outside the library, by
``experiments.cards.images`` (``jobs/train_prior.py`` calls it).
Command line: ``python -m svdd_ray.images configs/prior_digits.yaml checkpoints/digits``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml

from svdd_ray.config import as_schema, load_checkpoint_config
from svdd_ray.devices import pick_device
from svdd_ray.errors import ConfigError
from svdd_ray.training import TrainLoopConfig, train_prior_loop

from .classifier import accuracy, default_checkpoint_dir, load_classifier, train_classifier
from .data import DigitsSplit, from_uint8_images, load_digits_split, to_uint8_images
from .figures import comparison_figure, image_grid, save_png
from .metrics import gaussian_noise_baseline, marginal_baseline, sample_quality
from .network import DigitsUNet, count_parameters

__all__ = [
    "DigitsPriorConfig",
    "build_model",
    "build_network",
    "default_checkpoint_dir",
    "evaluate_prior",
    "load_prior",
    "sample_pretrained",
    "train_prior",
]


@dataclass
class DigitsDataConfig:
    """The fixed train / held-out split of :func:`~svdd_ray.images.data.load_digits_split`."""

    resolution: int = 8
    heldout_fraction: float = 0.2
    split_seed: int = 0


@dataclass
class DigitsNetworkConfig:
    """:class:`~svdd_ray.images.network.DigitsUNet` size."""

    base_channels: int = 32
    channel_mult: list[int] = field(default_factory=lambda: [1, 2])
    num_res_blocks: int = 1
    dropout: float = 0.1
    attention: bool = True


@dataclass
class DigitsDiffusionConfig:
    """:class:`~svdd_ray.models.GaussianDiffusion` arguments; ``scheduler`` is ``ddpm`` or ``ddim``."""

    RENAMED: ClassVar[dict[str, str]] = {"sampler": "scheduler"}

    num_train_steps: int = 1000
    num_steps: int = 50
    schedule: str = "cosine"
    scheduler: str = "ddpm"
    eta: float | None = None
    clip_x0: float | None = 1.0

    def check(self, path: str) -> None:
        from svdd_ray.models import GaussianDiffusion

        try:  # GaussianDiffusion owns the rules; a throwaway instance applies them
            GaussianDiffusion(torch.nn.Identity(), (1,), **dataclasses.asdict(self))
        except ValueError as err:
            raise ConfigError(f"{path}: {err}") from None


@dataclass
class DigitsTrainConfig(TrainLoopConfig):
    """:class:`~svdd_ray.training.TrainLoopConfig` with the digits prior's defaults (4,000 steps on one CPU thread)."""

    lr: float = 2.0e-3
    max_steps: int = 4000
    max_minutes: float | None = None
    ema_decay: float = 0.999
    log_every: int = 500
    eval_every: int = 500
    sample_every: int = 0
    device: str = "cpu"


@dataclass
class DigitsEvalConfig:
    """How many samples to score after training, their seed and the ``samples.png`` grid."""

    num_samples: int = 1000
    seed: int = 1234
    grid_rows: int = 10
    grid_cols: int = 20


@dataclass
class DigitsPriorConfig:
    """A training run of the digits prior (``domain: digits``)."""

    RENAMED: ClassVar[dict[str, str]] = {"out_dir": "output_dir"}

    domain: str = "digits"
    seed: int = 0
    output_dir: str | None = None
    data: DigitsDataConfig = field(default_factory=DigitsDataConfig)
    network: DigitsNetworkConfig = field(default_factory=DigitsNetworkConfig)
    diffusion: DigitsDiffusionConfig = field(default_factory=DigitsDiffusionConfig)
    train: DigitsTrainConfig = field(default_factory=DigitsTrainConfig)
    eval: DigitsEvalConfig = field(default_factory=DigitsEvalConfig)

    def check(self, path: str) -> None:
        if self.domain != "digits":
            raise ConfigError(f"{path}.domain: svdd_ray.images.train trains domain 'digits', not {self.domain!r}")


def as_config(config: DigitsPriorConfig | dict | None) -> DigitsPriorConfig:
    """``config`` itself, or a mapping validated into :class:`DigitsPriorConfig` (defaults filled in)."""
    return as_schema(DigitsPriorConfig, config)


def build_network(config: DigitsPriorConfig | dict | None = None) -> DigitsUNet:
    """The (untrained) ``DigitsUNet`` described by ``config``."""
    return DigitsUNet(in_channels=1, **dataclasses.asdict(as_config(config).network))


def build_model(config: DigitsPriorConfig | dict | None = None, network: torch.nn.Module | None = None):
    """A ``GaussianDiffusion`` for the digits (decoder: :func:`to_uint8_images`)."""
    from svdd_ray.models import GaussianDiffusion

    cfg = as_config(config)
    res = cfg.data.resolution
    network = network if network is not None else build_network(cfg)
    return GaussianDiffusion(network, (1, res, res), decoder=to_uint8_images, **dataclasses.asdict(cfg.diffusion))


def _upgrade(saved: dict) -> dict:
    """Checkpoints written before the sampler -> scheduler rename."""
    diffusion = saved.get("diffusion", {})
    if "sampler" in diffusion:
        diffusion["scheduler"] = diffusion.pop("sampler")
    return {}


def load_prior(checkpoint_dir: str | os.PathLike | None = None, device: str = "cpu", **overrides: Any):
    """The trained digits prior as a ready ``GaussianDiffusion`` in eval mode (no gradients).

    ``checkpoint_dir`` defaults to the committed ``checkpoints/digits``; ``overrides`` replace
    ``diffusion`` entries of the saved config (``num_steps=100, scheduler="ddim", eta=0.5``).
    The saved config rides along as ``model.train_config`` (a dict).
    """
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else default_checkpoint_dir()
    config, _ = load_checkpoint_config(directory, DigitsPriorConfig, ("prior.pt", "config.yaml"), overrides, _upgrade)
    network = build_network(config)
    network.load_state_dict(torch.load(directory / "prior.pt", map_location="cpu", weights_only=True))
    model = build_model(config, network).to(pick_device(device)).eval().requires_grad_(False)
    model.train_config = dataclasses.asdict(config)
    return model


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


def _quantised(x: torch.Tensor) -> torch.Tensor:
    """``x`` through uint8 and back: what the rewards see."""
    return from_uint8_images(to_uint8_images(x))


def _baselines(split: DigitsSplit, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``n`` images of each trivial baseline: clipped Gaussian noise and independent per-pixel marginals."""
    shape = tuple(split.heldout_images.shape[1:])
    return {
        "gaussian_noise": _quantised(gaussian_noise_baseline(n, shape, generator)),
        "pixel_marginals": _quantised(marginal_baseline(split.train_images, n, generator)),
    }


def _quality(images: torch.Tensor, baselines: dict, split: DigitsSplit, classifier: torch.nn.Module) -> dict:
    """:func:`~svdd_ray.images.metrics.sample_quality` of the samples, the real digits and the baselines."""
    heldout, train_x = split.heldout_images, split.train_images
    return {
        "model": sample_quality(from_uint8_images(images), classifier, heldout, train_x),
        "train_digits": sample_quality(_quantised(train_x), classifier, heldout, None),
        "heldout_digits": sample_quality(_quantised(heldout), classifier, heldout, train_x),
        **{name: sample_quality(x, classifier, heldout, train_x) for name, x in baselines.items()},
    }


def _figures(images: torch.Tensor, heldout: torch.Tensor, baselines: dict, ecfg: DigitsEvalConfig, out: Path) -> None:
    """``samples.png`` (a grid of the samples) and ``comparison.png`` (held-out, samples, baselines)."""
    save_png(image_grid(images, ecfg.grid_rows, ecfg.grid_cols, scale=6), out / "samples.png")
    columns = [
        ("held-out digits", to_uint8_images(heldout[:64])),
        ("model samples", images[:64]),
        ("pixel marginals", to_uint8_images(baselines["pixel_marginals"][:64])),
        ("gaussian noise", to_uint8_images(baselines["gaussian_noise"][:64])),
    ]
    save_png(comparison_figure(columns, scale=5), out / "comparison.png")


def _environment() -> dict:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }


@torch.no_grad()
def evaluate_prior(
    model, config: DigitsPriorConfig | dict, out_dir: str | os.PathLike, training: dict | None = None
) -> dict:
    """Sample from ``model``, score quality vs held-out digits and baselines; write figures and ``metrics.json``.

    ``out_dir`` must hold ``classifier.pt`` (and ``prior.pt`` for its size). ``training`` holds the
    training facts to record (wall time, steps, loss log); re-evaluating a committed checkpoint
    passes the ones from its existing ``metrics.json``. Returns the metrics.
    """
    cfg = as_config(config)
    out = Path(out_dir)
    split = load_digits_split(cfg.data.resolution, cfg.data.heldout_fraction, cfg.data.split_seed)
    eval_start = time.perf_counter()
    egen = torch.Generator().manual_seed(cfg.eval.seed)
    images = to_uint8_images(sample_pretrained(model, cfg.eval.num_samples, egen))
    sample_wall = time.perf_counter() - eval_start
    classifier = load_classifier(out / "classifier.pt")
    baselines = _baselines(split, len(images), egen)
    quality = _quality(images, baselines, split, classifier)
    _figures(images, split.heldout_images, baselines, cfg.eval, out)
    metrics = {
        **(training or {}),
        "sampling_wall_time_s": round(sample_wall, 1),
        "num_parameters": count_parameters(model.network),
        "checkpoint_bytes": (out / "prior.pt").stat().st_size,
        "classifier_heldout_accuracy": accuracy(classifier, split.heldout_images, split.heldout_labels),
        "quality": quality,
        "environment": _environment(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _training_facts(log: dict, classifier_metrics: dict | None) -> dict:
    """What ``metrics.json`` records of training, from :func:`~svdd_ray.training.train_prior_loop`'s log."""
    curve, val = log["loss_curve"], log["val_curve"]
    return {
        "train_wall_time_s": round(log["wall_seconds"], 1),
        "train_steps": log["steps"],
        "final_loss": curve[-1]["loss"] if curve else None,
        "final_val_loss": val[-1]["val_loss"] if val else None,
        "loss_log": [{"step": e["step"], "loss": e["loss"], "elapsed_s": e["seconds"]} for e in curve],
        "resumed": log["resumed"],
        "finished": log["finished"],
        "classifier_training": classifier_metrics,
    }


def _classifier(out: Path, cfg: DigitsPriorConfig) -> dict | None:
    """Train ``out/classifier.pt`` unless it is there; its training metrics, or ``None``."""
    if (out / "classifier.pt").is_file():
        return None
    data = cfg.data
    _, metrics = train_classifier(
        out / "classifier.pt", seed=cfg.seed, split_seed=data.split_seed, heldout_fraction=data.heldout_fraction
    )
    return metrics


def _network(model: torch.nn.Module) -> torch.nn.Module:
    """What ``prior.pt`` holds: the ``DigitsUNet`` of the ``GaussianDiffusion``."""
    return model.network


def train_prior(config: DigitsPriorConfig | dict | None, out_dir: str | os.PathLike) -> dict:
    """Train the digits prior (a mapping is validated) and evaluate it; returns the ``metrics.json`` dict.

    A run stopped by ``train.session_steps`` / ``session_minutes`` returns its training facts only
    (``finished: false``, no evaluation); ``train.resume: true`` continues it.
    """
    cfg = as_config(config)
    tcfg = cfg.train
    device = pick_device(tcfg.device, key="config.train.device")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    if tcfg.num_threads > 0:
        torch.set_num_threads(tcfg.num_threads)
    try:
        torch.manual_seed(cfg.seed)
        split = load_digits_split(cfg.data.resolution, cfg.data.heldout_fraction, cfg.data.split_seed)
        saved = dataclasses.asdict(cfg)
        (out / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
        classifier_metrics = _classifier(out, cfg)
        model = build_model(cfg).to(device)
        val = split.heldout_images.to(device)
        log = train_prior_loop(
            model, split.train_images, val, tcfg, out, saved, cfg.seed, name="train_digits_prior", export=_network
        )
        training = _training_facts(log, classifier_metrics)
        if not log["finished"]:
            return training
        return evaluate_prior(load_prior(out), cfg, out, training)
    finally:
        torch.set_num_threads(threads_before)

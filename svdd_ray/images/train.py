"""Train the digits prior: a :class:`svdd_ray.models.GaussianDiffusion` over :class:`DigitsUNet`.

Entry point: :func:`train_prior(config, out_dir)` with a :class:`DigitsPriorConfig` (``domain: digits``),
called by ``jobs/train_prior.py``. Writes into ``out_dir``:

* ``prior.pt`` - the (EMA) network's ``state_dict`` (load with :func:`load_prior`);
* ``config.yaml`` - the validated configuration;
* ``classifier.pt`` - the digit classifier (trained first if ``out_dir`` has none);
* ``samples.png``, ``comparison.png``, ``metrics.json`` and ``MODEL_CARD.md``
  (:func:`svdd_ray.images.model_card.evaluate_prior`).

Command line: ``python -m svdd_ray.images configs/prior_digits.yaml checkpoints/digits``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml

from svdd_ray.config import as_schema, load_checkpoint_config
from svdd_ray.devices import pick_device
from svdd_ray.errors import ConfigError

from .classifier import default_checkpoint_dir, train_classifier
from .data import load_digits_split, to_uint8_images
from .network import DigitsUNet

__all__ = ["DigitsPriorConfig", "build_model", "build_network", "default_checkpoint_dir", "load_prior", "train_prior"]


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
class DigitsTrainConfig:
    """Optimiser, schedule, budget (``max_steps`` or ``max_minutes``, whichever first) and logging."""

    max_steps: int = 4000
    batch_size: int = 128
    lr: float = 2.0e-3
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    num_threads: int = 1
    max_minutes: float | None = None
    device: str = "cpu"
    log_every: int = 500


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

    domain: str = "digits"
    seed: int = 0
    out_dir: str | None = None
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


def _lr_at(step: int, cfg: DigitsTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    floor = cfg.min_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_prior(config: DigitsPriorConfig | dict | None, out_dir: str | os.PathLike) -> dict:
    """Train the digits prior (a mapping is validated) and evaluate it; returns the ``metrics.json`` dict."""
    from .model_card import evaluate_prior

    cfg = as_config(config)
    tcfg = cfg.train
    device = pick_device(tcfg.device, key="config.train.device")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    if tcfg.num_threads > 0:
        torch.set_num_threads(tcfg.num_threads)
    try:
        seed = cfg.seed
        torch.manual_seed(seed)
        split = load_digits_split(cfg.data.resolution, cfg.data.heldout_fraction, cfg.data.split_seed)
        (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))

        classifier_path = out / "classifier.pt"
        classifier_metrics = None
        if not classifier_path.is_file():
            _, classifier_metrics = train_classifier(
                classifier_path,
                seed=seed,
                split_seed=cfg.data.split_seed,
                heldout_fraction=cfg.data.heldout_fraction,
            )

        model = build_model(cfg).to(device)
        ema = copy.deepcopy(model.network).eval().requires_grad_(False)
        opt = torch.optim.AdamW(model.network.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        gen = torch.Generator().manual_seed(seed)  # data order (and, on CPU, the loss noise)
        loss_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        x_train = split.train_images.to(device)
        batch, steps = tcfg.batch_size, tcfg.max_steps
        start = time.perf_counter()
        losses, log = [], []
        perm, cursor = torch.randperm(len(x_train), generator=gen), 0
        model.train()
        step = 0
        for step in range(steps):
            if cursor + batch > len(perm):
                perm, cursor = torch.randperm(len(x_train), generator=gen), 0
            x0 = x_train[perm[cursor : cursor + batch].to(device)]
            cursor += batch
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, tcfg)
            loss = model.loss(x0, generator=loss_gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.network.parameters(), tcfg.grad_clip)
            opt.step()
            d = min(tcfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.network.parameters()):
                    pe.lerp_(pm, 1 - d)
                for be, bm in zip(ema.buffers(), model.network.buffers()):
                    be.copy_(bm)
            losses.append(float(loss.detach()))
            if (step + 1) % tcfg.log_every == 0 or step + 1 == steps:
                entry = {
                    "step": step + 1,
                    "loss": float(np.mean(losses[-tcfg.log_every :])),
                    "elapsed_s": round(time.perf_counter() - start, 1),
                }
                log.append(entry)
                print(
                    f"[digits prior] step {entry['step']}/{steps} loss {entry['loss']:.4f} ({entry['elapsed_s']} s)",
                    flush=True,
                )
            if tcfg.max_minutes is not None and time.perf_counter() - start > 60 * tcfg.max_minutes:
                print(f"[digits prior] stopping at step {step + 1}: max_minutes={tcfg.max_minutes} reached", flush=True)
                break
        train_wall = time.perf_counter() - start
        torch.save({k: v.cpu() for k, v in ema.state_dict().items()}, out / "prior.pt")

        training = {
            "train_wall_time_s": round(train_wall, 1),
            "train_steps": step + 1,
            "final_loss": log[-1]["loss"] if log else None,
            "loss_log": log,
            "classifier_training": classifier_metrics,
        }
        model.network.load_state_dict(ema.state_dict())
        return evaluate_prior(model.cpu().eval(), cfg, out, training)
    finally:
        torch.set_num_threads(threads_before)

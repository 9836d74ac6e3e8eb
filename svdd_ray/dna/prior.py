"""The DNA prior: masked discrete diffusion over ``A C G T``, length 200, on DNase sites of four cell types.

An unconditional prior of regulatory DNA, trained on the ``training`` rows of all four cell types
(each row and, by default, its reverse complement); the ``validation`` rows (chr2) give the
validation NELBO; the ``test`` rows (chr1) are never seen. Entry point:
``python jobs/train_prior.py --config configs/prior_dna.yaml`` (resumable with
``--set train.resume=true``). Writes ``prior.pt``, ``config.yaml``, ``train_log.json`` and
``train_state.pt`` into ``out_dir``; :func:`load_prior` reads them back.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml

from svdd_ray.config import as_schema, load_checkpoint_config
from svdd_ray.devices import pick_device
from svdd_ray.dna import data
from svdd_ray.errors import ConfigError
from svdd_ray.package_data import checkpoint_dir
from svdd_ray.training import TrainLoopConfig, TransformerConfig, train_prior_loop

__all__ = ["DnaPriorConfig", "build_model", "train_prior", "load_prior", "default_checkpoint_dir"]


@dataclass
class DnaDataConfig:
    """Training rows: the ``training`` split (``limit``: first N rows), plus reverse complements."""

    limit: int | None = None
    reverse_complement: bool = True
    val_size: int = 2000


@dataclass
class DnaDiffusionConfig:
    """Reverse steps used when sampling (200 positions: 100 steps reveal two per step on average)."""

    num_steps: int = 100


@dataclass
class DnaPriorConfig:
    """A training run of the DNA prior (``domain: dna``)."""

    RENAMED: ClassVar[dict[str, str]] = {"out_dir": "output_dir"}

    domain: str = "dna"
    seed: int = 0
    output_dir: str | None = None
    data: DnaDataConfig = field(default_factory=DnaDataConfig)
    network: TransformerConfig = field(default_factory=TransformerConfig)
    diffusion: DnaDiffusionConfig = field(default_factory=DnaDiffusionConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)

    def check(self, path: str) -> None:
        if self.domain != "dna":
            raise ConfigError(f"{path}.domain: svdd_ray.dna.prior trains domain 'dna', not {self.domain!r}")


def build_model(config: DnaPriorConfig):
    """The (untrained) ``MaskedDiffusion`` over 4 letters x 200 positions that ``config`` describes."""
    from svdd_ray.models import MaskedDiffusion
    from svdd_ray.models.transformer import SequenceTransformer

    network = SequenceTransformer(4, data.SEQ_LEN, **dataclasses.asdict(config.network))
    return MaskedDiffusion(network, 4, data.SEQ_LEN, num_steps=config.diffusion.num_steps, decoder=data.decode)


def default_checkpoint_dir() -> Path:
    """``$SVDD_RAY_DNA_CHECKPOINTS/prior`` if set, else ``checkpoints/dna/prior`` (:func:`checkpoint_dir`)."""
    return checkpoint_dir("dna") / "prior"


def load_prior(checkpoint_dir: str | os.PathLike | None = None, device: str = "cpu", **overrides: Any):
    """The trained DNA prior as a ready ``MaskedDiffusion`` in eval mode; ``decode`` gives ``ACGT`` strings.

    ``overrides`` replace ``diffusion`` entries of the saved config (``num_steps=50``).
    """
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else default_checkpoint_dir()
    config, extras = load_checkpoint_config(
        ckpt_dir,
        DnaPriorConfig,
        ("prior.pt", "config.yaml"),
        overrides,
        upgrade=lambda saved: {"resolved": saved.pop("resolved", {})},
    )
    model = build_model(config)
    model.load_state_dict(torch.load(ckpt_dir / "prior.pt", map_location="cpu", weights_only=True))
    model = model.to(pick_device(device)).eval().requires_grad_(False)
    model.train_config = {**dataclasses.asdict(config), **extras}
    return model


@torch.no_grad()
def _sample_check(model, n: int, seed: int) -> dict:
    from svdd_ray.dna.metrics import gc_content, longest_homopolymer
    from svdd_ray.samplers import final_states

    generator = torch.Generator(device=model.device).manual_seed(seed)
    tokens = final_states(model, n, generator).cpu().numpy()
    return {
        "gc": round(float(gc_content(tokens).mean()), 4),
        "longest_homopolymer": round(float(longest_homopolymer(tokens).mean()), 2),
        "examples": data.decode(tokens[:2]),
    }


def train_prior(config: DnaPriorConfig | dict | None, out_dir: str | os.PathLike) -> dict:
    """Train the DNA prior described by ``config`` (a mapping is validated); returns the training log."""
    cfg = as_schema(DnaPriorConfig, config)
    tcfg = cfg.train
    device = pick_device(tcfg.device, key="config.train.device")
    out_dir = Path(out_dir)
    if tcfg.num_threads > 0:
        torch.set_num_threads(tcfg.num_threads)
    torch.manual_seed(cfg.seed)
    train_rows = data.load_sites("training").tokens
    if cfg.data.limit is not None:
        train_rows = train_rows[: cfg.data.limit]
    if cfg.data.reverse_complement:
        train_rows = np.concatenate([train_rows, data.reverse_complement(train_rows)])
    val_rows = data.load_sites("validation").tokens
    val_rows = val_rows[np.random.default_rng(cfg.seed).permutation(len(val_rows))[: cfg.data.val_size]]
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg).to(device)
    saved = dataclasses.asdict(cfg)
    saved["resolved"] = {
        "seq_len": data.SEQ_LEN,
        "alphabet": data.ALPHABET,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    val = torch.from_numpy(val_rows.astype(np.int64)).to(device)
    return train_prior_loop(
        model, torch.from_numpy(train_rows), val, tcfg, out_dir, saved, cfg.seed, _sample_check, name="train_dna_prior"
    )

"""Train the masked-diffusion prior on MOSES SELFIES (``domain: molecules``).

Entry point: :func:`train_prior(config, out_dir)` with a :class:`MolPriorConfig`, called by
``jobs/train_prior.py``. Writes into ``out_dir``:

* ``prior.pt``: ``MaskedDiffusion.state_dict()`` (EMA weights if enabled),
  loadable with ``torch.load(path, weights_only=True)``;
* ``vocab.json``: the SELFIES vocabulary (:class:`~svdd_ray.chem.tokens.SelfiesVocab`);
* ``config.yaml``: the validated configuration plus ``resolved`` facts (vocabulary size,
  sequence length, device, ...);
* ``train_log.json``: steps, wall time, loss curve, validation loss and sample checks.

Use :func:`load_prior` to get the model back (``model.vocab``, ``model.train_config`` attached).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from svdd_ray.chem.network import SequenceTransformer
from svdd_ray.chem.tokens import SelfiesVocab, encoded_moses
from svdd_ray.config import as_schema, load_checkpoint_config
from svdd_ray.devices import pick_device
from svdd_ray.errors import ConfigError
from svdd_ray.training import TrainLoopConfig, TransformerConfig, train_masked_prior

__all__ = ["MolPriorConfig", "build_model", "train_prior", "load_prior", "default_checkpoint_dir"]


@dataclass
class MolDataConfig:
    """The MOSES train split (``limit``: first N molecules; ``val_size`` held out)."""

    dataset: str = "moses"
    limit: int | None = None
    val_size: int = 2000

    def check(self, path: str) -> None:
        if self.dataset != "moses":
            raise ConfigError(f"{path}.dataset: unknown molecule dataset {self.dataset!r} (only 'moses')")


#: :class:`~svdd_ray.models.transformer.SequenceTransformer` size.
MolNetworkConfig = TransformerConfig


@dataclass
class MolDiffusionConfig:
    """Reverse steps used when sampling."""

    num_steps: int = 50


#: Optimiser, schedule, budget, logging and resumption (the shared masked-prior training loop).
MolTrainConfig = TrainLoopConfig


@dataclass
class MolPriorConfig:
    """A training run of the MOSES prior (``domain: molecules``)."""

    domain: str = "molecules"
    seed: int = 0
    out_dir: str | None = None
    data: MolDataConfig = field(default_factory=MolDataConfig)
    network: MolNetworkConfig = field(default_factory=MolNetworkConfig)
    diffusion: MolDiffusionConfig = field(default_factory=MolDiffusionConfig)
    train: MolTrainConfig = field(default_factory=MolTrainConfig)

    def check(self, path: str) -> None:
        if self.domain != "molecules":
            raise ConfigError(f"{path}.domain: svdd_ray.chem.train trains domain 'molecules', not {self.domain!r}")


def as_config(config: MolPriorConfig | dict | None) -> MolPriorConfig:
    """``config`` itself, or a mapping validated into :class:`MolPriorConfig` (defaults filled in)."""
    return as_schema(MolPriorConfig, config)


def build_model(config: MolPriorConfig, vocab: SelfiesVocab):
    """The (untrained) ``MaskedDiffusion`` described by ``config``."""
    from svdd_ray.models import MaskedDiffusion

    network = SequenceTransformer(vocab.size, vocab.seq_len, **dataclasses.asdict(config.network))
    return MaskedDiffusion(
        network, vocab.size, vocab.seq_len, num_steps=config.diffusion.num_steps, decoder=vocab.decode
    )


def default_checkpoint_dir() -> Path:
    """``checkpoints/moses`` of this checkout (next to the ``svdd_ray`` package)."""
    return Path(__file__).resolve().parents[2] / "checkpoints" / "moses"


def load_prior(checkpoint_dir: str | os.PathLike | None = None, device: str = "cpu", **overrides: Any):
    """The trained MOSES prior as a ready ``MaskedDiffusion`` in eval mode (no gradients).

    ``checkpoint_dir`` defaults to the committed ``checkpoints/moses``; ``overrides`` replace
    ``diffusion`` entries of the saved config (``num_steps=100``). The vocabulary and the saved
    config (a dict, with its ``resolved`` facts) ride along as ``model.vocab`` and
    ``model.train_config`` (``model.decode`` turns token ids into canonical SMILES).
    """
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else default_checkpoint_dir()
    config, extras = load_checkpoint_config(
        ckpt_dir,
        MolPriorConfig,
        ("prior.pt", "vocab.json", "config.yaml"),
        overrides,
        upgrade=lambda saved: {"resolved": saved.pop("resolved", {})},
    )
    vocab = SelfiesVocab.load(ckpt_dir / "vocab.json")
    model = build_model(config, vocab)
    state = torch.load(ckpt_dir / "prior.pt", map_location="cpu", weights_only=True)
    if not any(key.startswith("network.") for key in state):  # a bare network state_dict
        state = {f"network.{key}": value for key, value in state.items()}
    model.load_state_dict(state)
    model = model.to(pick_device(device)).eval().requires_grad_(False)
    model.vocab = vocab
    model.train_config = {**dataclasses.asdict(config), **extras}
    return model


@torch.no_grad()
def _sample_check(model, n: int, seed: int) -> dict:
    from svdd_ray.samplers import final_states

    generator = torch.Generator(device=model.device).manual_seed(seed)
    x0 = final_states(model, n, generator)
    smiles = model.decode(x0)
    valid = [s for s in smiles if s]
    return {"validity": len(valid) / n, "uniqueness": len(set(valid)) / max(len(valid), 1), "examples": valid[:5]}


def train_prior(config: MolPriorConfig | dict | None, out_dir: str | os.PathLike) -> dict:
    """Train the MOSES prior described by ``config`` (a mapping is validated); returns the training log."""
    cfg = as_config(config)
    tcfg = cfg.train
    device = pick_device(tcfg.device, key="config.train.device")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if tcfg.num_threads > 0:
        torch.set_num_threads(tcfg.num_threads)
    seed = cfg.seed
    torch.manual_seed(seed)

    def say(msg: str) -> None:
        print(f"[train_prior {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    t_data = time.time()
    say("encoding MOSES train set to SELFIES (cached after the first run) ...")
    vocab, ids = encoded_moses("train", limit=cfg.data.limit, progress=lambda d, n: say(f"  encoded {d}/{n}"))
    data_seconds = time.time() - t_data
    say(f"{len(ids)} molecules, {vocab} ({data_seconds:.1f} s)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    val_size = min(cfg.data.val_size, len(ids) // 10)
    val = torch.from_numpy(ids[order[:val_size]].astype(np.int64)).to(device)
    train_ids = torch.from_numpy(ids[order[val_size:]])  # uint8 on CPU; batches move to device

    model = build_model(cfg, vocab).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    saved = dataclasses.asdict(cfg)
    saved["resolved"] = {
        "vocab_size": vocab.size,
        "seq_len": vocab.seq_len,
        "mask_id": vocab.mask_id,
        "num_parameters": n_params,
        "device": str(device),
        "train_molecules": len(train_ids),
        "val_molecules": val_size,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    vocab.save(out_dir / "vocab.json")
    (out_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    say(f"model: {n_params} parameters on {device}")

    log = train_masked_prior(model, train_ids, val, tcfg, out_dir, saved, seed, _sample_check)
    log["data_seconds"] = data_seconds
    (out_dir / "train_log.json").write_text(json.dumps(log, indent=1))
    return log

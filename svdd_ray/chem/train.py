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

import copy
import dataclasses
import json
import math
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


@dataclass
class MolNetworkConfig:
    """:class:`~svdd_ray.chem.network.SequenceTransformer` size."""

    d_model: int = 96
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.0


@dataclass
class MolDiffusionConfig:
    """Reverse steps used when sampling."""

    num_steps: int = 50


@dataclass
class MolTrainConfig:
    """Optimiser, schedule, budget and logging."""

    batch_size: int = 128
    lr: float = 1.0e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 100_000
    max_minutes: float = 60.0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    log_every: int = 50
    eval_every: int = 500
    sample_every: int = 1000
    sample_size: int = 64
    num_threads: int = 1
    device: str = "auto"


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


def _lr_factor(step: int, progress: float, warmup: int, min_ratio: float) -> float:
    warm = min(1.0, (step + 1) / max(warmup, 1))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return warm * (min_ratio + (1.0 - min_ratio) * cosine)


@torch.no_grad()
def _validation_loss(model, val: torch.Tensor, batch_size: int, seed: int) -> float:
    generator = torch.Generator(device=val.device).manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(val), batch_size):
        batch = val[start : start + batch_size]
        total += float(model.loss(batch, generator=generator)) * len(batch)
        count += len(batch)
    return total / max(count, 1)


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
    say(f"{len(ids)} molecules, {vocab} ({time.time() - t_data:.1f} s)")
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

    ema = None
    if tcfg.ema_decay > 0:
        ema = copy.deepcopy(model).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    batch_size, max_steps = tcfg.batch_size, tcfg.max_steps
    max_seconds = tcfg.max_minutes * 60.0
    log: dict[str, Any] = {
        "config": saved,
        "loss_curve": [],
        "val_curve": [],
        "samples": [],
        "data_seconds": time.time() - t_data,
    }
    perm = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(seed))
    cursor, epoch, step, running, running_n = 0, 0, 0, 0.0, 0
    start = time.time()

    def save(final: bool = False) -> None:
        weights = (ema if ema is not None else model).state_dict()
        torch.save({k: v.detach().cpu() for k, v in weights.items()}, out_dir / "prior.pt")
        log.update(steps=step, wall_seconds=time.time() - start, epochs=epoch + cursor / len(train_ids), finished=final)
        (out_dir / "train_log.json").write_text(json.dumps(log, indent=1))

    while True:
        elapsed = time.time() - start
        progress = max(step / max_steps, elapsed / max_seconds if max_seconds > 0 else 0.0)
        if progress >= 1.0:
            break
        lr = tcfg.lr * _lr_factor(step, progress, tcfg.warmup_steps, tcfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if cursor + batch_size > len(train_ids):
            perm = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(seed + epoch + 1))
            cursor, epoch = 0, epoch + 1
        batch = train_ids[perm[cursor : cursor + batch_size]].long().to(device)
        cursor += batch_size
        model.train()
        loss = model.loss(batch, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        optimizer.step()
        if ema is not None:
            decay = min(tcfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1.0 - decay)
        step += 1
        running += float(loss.detach())
        running_n += 1
        if step % tcfg.log_every == 0:
            entry = {"step": step, "seconds": round(time.time() - start, 1), "loss": running / running_n, "lr": lr}
            log["loss_curve"].append(entry)
            say(f"step {step} loss {entry['loss']:.4f} lr {lr:.2e} ({entry['seconds']:.0f} s)")
            running, running_n = 0.0, 0
        if step % tcfg.eval_every == 0:
            eval_model = ema if ema is not None else model
            vl = _validation_loss(eval_model.eval(), val, 500, seed)
            log["val_curve"].append({"step": step, "seconds": round(time.time() - start, 1), "val_loss": vl})
            say(f"step {step} val_loss {vl:.4f}")
            save()
        if tcfg.sample_every > 0 and step % tcfg.sample_every == 0:
            check = _sample_check(ema if ema is not None else model, tcfg.sample_size, seed)
            check["step"] = step
            log["samples"].append(check)
            say(
                f"step {step} samples: validity {check['validity']:.2f} "
                f"uniqueness {check['uniqueness']:.2f} e.g. {check['examples'][:3]}"
            )

    eval_model = ema if ema is not None else model
    if log["val_curve"] and log["val_curve"][-1]["step"] == step:
        vl = log["val_curve"][-1]["val_loss"]
    else:
        vl = _validation_loss(eval_model.eval(), val, 500, seed)
        log["val_curve"].append({"step": step, "seconds": round(time.time() - start, 1), "val_loss": vl})
    check = _sample_check(eval_model, tcfg.sample_size, seed)
    check["step"] = step
    log["samples"].append(check)
    save(final=True)
    say(
        f"done: {step} steps, {time.time() - start:.0f} s, val_loss {vl:.4f}, "
        f"sample validity {check['validity']:.2f}; wrote {out_dir}"
    )
    return log

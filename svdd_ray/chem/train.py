"""Train the masked-diffusion prior on MOSES SELFIES (``domain: molecules``).

Entry point: :func:`train_prior(config, out_dir)`, called by
``jobs/train_prior.py``. Writes into ``out_dir``:

* ``prior.pt``: ``MaskedDiffusion.state_dict()`` (EMA weights if enabled),
  loadable with ``torch.load(path, weights_only=True)``;
* ``vocab.json``: the SELFIES vocabulary (:class:`~svdd_ray.chem.tokens.SelfiesVocab`);
* ``config.yaml``: the resolved configuration (defaults filled in, vocabulary size,
  sequence length, device);
* ``train_log.json``: steps, wall time, loss curve, validation loss and sample checks.

Use :func:`load_prior` to get the model back (``model.vocab``, ``model.train_config`` attached).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from svdd_ray.chem.network import SequenceTransformer
from svdd_ray.chem.tokens import SelfiesVocab, encoded_moses

__all__ = ["DEFAULTS", "resolve_config", "build_model", "train_prior", "load_prior", "default_checkpoint_dir"]

DEFAULTS: dict[str, Any] = {
    "domain": "molecules",
    "seed": 0,
    "data": {"dataset": "moses", "limit": None, "val_size": 2000},
    "network": {"d_model": 96, "layers": 4, "heads": 4, "ff_mult": 4, "dropout": 0.0},
    "diffusion": {"num_steps": 50},
    "train": {
        "batch_size": 128,
        "lr": 1.0e-3,
        "min_lr_ratio": 0.05,
        "weight_decay": 0.0,
        "warmup_steps": 200,
        "max_steps": 100_000,
        "max_minutes": 60.0,
        "grad_clip": 1.0,
        "ema_decay": 0.995,
        "log_every": 50,
        "eval_every": 500,
        "sample_every": 1000,
        "sample_size": 64,
        "num_threads": 1,
        "device": "auto",
    },
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config(config: dict) -> dict:
    """``config`` with the defaults of :data:`DEFAULTS` filled in."""
    resolved = _merge(DEFAULTS, config or {})
    if resolved.get("domain") != "molecules":
        raise ValueError(f"svdd_ray.chem.train handles domain 'molecules', not {resolved.get('domain')!r}")
    if resolved["data"].get("dataset") != "moses":
        raise ValueError(f"unknown molecule dataset {resolved['data'].get('dataset')!r} (only 'moses')")
    return resolved


def build_model(config: dict, vocab: SelfiesVocab):
    """The (untrained) ``MaskedDiffusion`` described by a resolved config."""
    from svdd_ray.models import MaskedDiffusion

    net_cfg = config["network"]
    network = SequenceTransformer(
        vocab.size,
        vocab.seq_len,
        d_model=int(net_cfg["d_model"]),
        layers=int(net_cfg["layers"]),
        heads=int(net_cfg["heads"]),
        ff_mult=int(net_cfg["ff_mult"]),
        dropout=float(net_cfg["dropout"]),
    )
    return MaskedDiffusion(
        network, vocab.size, vocab.seq_len, num_steps=int(config["diffusion"]["num_steps"]), decoder=vocab.decode
    )


def default_checkpoint_dir() -> Path:
    """``checkpoints/moses`` of this checkout (next to the ``svdd_ray`` package)."""
    return Path(__file__).resolve().parents[2] / "checkpoints" / "moses"


def load_prior(
    checkpoint_dir: str | Path | None = None, device: str | torch.device = "cpu", num_steps: int | None = None
):
    """The trained MOSES prior as a ready ``MaskedDiffusion`` in eval mode (no gradients).

    ``checkpoint_dir`` defaults to the committed ``checkpoints/moses``; ``num_steps``
    overrides the number of reverse steps used for sampling. The vocabulary and the
    resolved training config ride along as ``model.vocab`` and ``model.train_config``
    (``model.decode`` turns token ids into canonical SMILES).
    """
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else default_checkpoint_dir()
    for name in ("prior.pt", "vocab.json", "config.yaml"):
        if not (ckpt_dir / name).is_file():
            raise FileNotFoundError(f"{ckpt_dir / name} is missing (train with jobs/train_prior.py)")
    vocab = SelfiesVocab.load(ckpt_dir / "vocab.json")
    config = yaml.safe_load((ckpt_dir / "config.yaml").read_text())
    if num_steps is not None:
        config = copy.deepcopy(config)
        config["diffusion"]["num_steps"] = int(num_steps)
    model = build_model(config, vocab)
    state = torch.load(ckpt_dir / "prior.pt", map_location="cpu", weights_only=True)
    if not any(key.startswith("network.") for key in state):  # a bare network state_dict
        state = {f"network.{key}": value for key, value in state.items()}
    model.load_state_dict(state)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.vocab = vocab
    model.train_config = config
    return model


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def train_prior(config: dict, out_dir: str | Path) -> dict:
    """Train the MOSES prior described by ``config``; returns the training log dict."""
    cfg = resolve_config(config)
    tcfg = cfg["train"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if int(tcfg["num_threads"]) > 0:
        torch.set_num_threads(int(tcfg["num_threads"]))
    device = _device(str(tcfg["device"]))
    seed = int(cfg["seed"])
    torch.manual_seed(seed)

    def say(msg: str) -> None:
        print(f"[train_prior {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    t_data = time.time()
    say("encoding MOSES train set to SELFIES (cached after the first run) ...")
    vocab, ids = encoded_moses("train", limit=cfg["data"]["limit"], progress=lambda d, n: say(f"  encoded {d}/{n}"))
    say(f"{len(ids)} molecules, {vocab} ({time.time() - t_data:.1f} s)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    val_size = min(int(cfg["data"]["val_size"]), len(ids) // 10)
    val = torch.from_numpy(ids[order[:val_size]].astype(np.int64)).to(device)
    train_ids = torch.from_numpy(ids[order[val_size:]])  # uint8 on CPU; batches move to device

    model = build_model(cfg, vocab).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    cfg["resolved"] = {
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
    (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    say(f"model: {n_params} parameters on {device}")

    ema = None
    if float(tcfg["ema_decay"]) > 0:
        ema = copy.deepcopy(model).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    batch_size, max_steps = int(tcfg["batch_size"]), int(tcfg["max_steps"])
    max_seconds = float(tcfg["max_minutes"]) * 60.0
    log: dict[str, Any] = {
        "config": cfg,
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
        lr = float(tcfg["lr"]) * _lr_factor(step, progress, int(tcfg["warmup_steps"]), float(tcfg["min_lr_ratio"]))
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
        if float(tcfg["grad_clip"]) > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(tcfg["grad_clip"]))
        optimizer.step()
        if ema is not None:
            decay = min(float(tcfg["ema_decay"]), (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1.0 - decay)
        step += 1
        running += float(loss.detach())
        running_n += 1
        if step % int(tcfg["log_every"]) == 0:
            entry = {"step": step, "seconds": round(time.time() - start, 1), "loss": running / running_n, "lr": lr}
            log["loss_curve"].append(entry)
            say(f"step {step} loss {entry['loss']:.4f} lr {lr:.2e} ({entry['seconds']:.0f} s)")
            running, running_n = 0.0, 0
        if step % int(tcfg["eval_every"]) == 0:
            eval_model = ema if ema is not None else model
            vl = _validation_loss(eval_model.eval(), val, 500, seed)
            log["val_curve"].append({"step": step, "seconds": round(time.time() - start, 1), "val_loss": vl})
            say(f"step {step} val_loss {vl:.4f}")
            save()
        if int(tcfg["sample_every"]) > 0 and step % int(tcfg["sample_every"]) == 0:
            check = _sample_check(ema if ema is not None else model, int(tcfg["sample_size"]), seed)
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
    check = _sample_check(eval_model, int(tcfg["sample_size"]), seed)
    check["step"] = step
    log["samples"].append(check)
    save(final=True)
    say(
        f"done: {step} steps, {time.time() - start:.0f} s, val_loss {vl:.4f}, "
        f"sample validity {check['validity']:.2f}; wrote {out_dir}"
    )
    return log

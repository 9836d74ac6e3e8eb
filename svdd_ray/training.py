"""One training loop for masked-diffusion priors over token arrays (molecules, DNA), resumable.

:func:`train_masked_prior` runs AdamW with warm-up and cosine decay (following whichever of
``max_steps`` / ``max_minutes`` is closer to its end), an EMA of the weights, periodic validation
NELBO and sample checks. At every evaluation it writes, into ``out_dir``:

* ``prior.pt``: the EMA (or plain) ``state_dict`` - what :func:`load_prior` functions read;
* ``train_log.json``: steps, wall time, loss and validation curves, sample checks;
* ``train_state.pt``: everything needed to continue - weights, EMA, optimiser, step, epoch, data
  position, random generator states and time spent - so a run stopped on one machine (a CPU
  session that ends, a lent GPU whose time runs out) continues where it stopped with
  ``train.resume: true``. The data order depends only on the seed and the epoch, so a resumed
  run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from svdd_ray.errors import ConfigError

__all__ = ["TransformerConfig", "TrainLoopConfig", "train_masked_prior", "lr_factor", "validation_loss"]

STATE_FILE = "train_state.pt"


@dataclass
class TransformerConfig:
    """:class:`~svdd_ray.models.transformer.SequenceTransformer` size."""

    d_model: int = 96
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.0
    conv_kernel: int = 0


@dataclass
class TrainLoopConfig:
    """Optimiser, schedule, budget, logging and resumption of :func:`train_masked_prior`.

    ``max_steps`` / ``max_minutes`` are the whole run's budget (resumed sessions included) and shape
    the learning-rate schedule; ``session_steps`` / ``session_minutes`` stop this invocation early
    (state saved, ``finished: false``) so a later one continues with ``resume: true``.
    """

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
    resume: bool = False
    session_steps: int | None = None
    session_minutes: float | None = None


def lr_factor(step: int, progress: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps times a cosine from 1 to ``min_ratio`` over ``progress`` in [0, 1]."""
    warm = min(1.0, (step + 1) / max(warmup, 1))
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return warm * (min_ratio + (1.0 - min_ratio) * cosine)


@torch.no_grad()
def validation_loss(model, val: torch.Tensor, batch_size: int, seed: int) -> float:
    """Mean NELBO per token of ``val`` (fixed masking noise from ``seed``)."""
    generator = torch.Generator(device=val.device).manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(val), batch_size):
        batch = val[start : start + batch_size]
        total += float(model.loss(batch, generator=generator)) * len(batch)
        count += len(batch)
    return total / max(count, 1)


def _resumable_state(out_dir: Path, saved_config: dict) -> dict | None:
    path = out_dir / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    previous = {k: v for k, v in state["config"].items() if k not in ("train", "resolved", "out_dir")}
    current = {k: v for k, v in saved_config.items() if k not in ("train", "resolved", "out_dir")}
    if previous != current:
        raise ConfigError(
            f"train.resume: {path} was written by a different config (model or data differ); "
            "use another out_dir or train.resume=false"
        )
    return state


def train_masked_prior(
    model: torch.nn.Module,
    train_ids: torch.Tensor,
    val: torch.Tensor,
    tcfg: TrainLoopConfig,
    out_dir: Path,
    saved_config: dict,
    seed: int,
    sample_check: Callable[[torch.nn.Module, int, int], dict] | None = None,
    name: str = "train_prior",
) -> dict:
    """Train ``model`` (a ``MaskedDiffusion`` on its device) on rows of ``train_ids``; returns the log.

    ``train_ids`` stays on the CPU (any integer dtype); batches move to the model's device. ``val``
    is on the device. ``sample_check(model, n, seed)`` returns a small dict logged with each
    sample check (validity, GC content, ...). With ``tcfg.resume`` and a ``train_state.pt`` from
    the same config in ``out_dir``, training continues from it; the budget (``max_steps``,
    ``max_minutes``) counts the steps and time already spent.
    """
    device = val.device

    def say(msg: str) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    ema = copy.deepcopy(model).eval().requires_grad_(False) if tcfg.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    log: dict[str, Any] = {"config": saved_config, "loss_curve": [], "val_curve": [], "samples": [], "resumed": []}
    step, epoch, cursor, spent = 0, 0, 0, 0.0
    state = _resumable_state(out_dir, saved_config) if tcfg.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"].to(generator.get_state().device))
        torch.set_rng_state(state["torch_rng"])
        step, epoch, cursor, spent = state["step"], state["epoch"], state["cursor"], state["seconds"]
        log = state["log"]
        log["resumed"].append({"step": step, "seconds": round(spent, 1)})
        say(f"resumed from {out_dir / STATE_FILE} at step {step} ({spent:.0f} s spent)")
    batch_size, max_steps = tcfg.batch_size, tcfg.max_steps
    max_seconds = tcfg.max_minutes * 60.0

    def permutation(epoch: int) -> torch.Tensor:
        return torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(seed + epoch))

    perm = permutation(epoch)
    session_start, session_first_step = time.time(), step
    start = session_start - spent
    running, running_n = 0.0, 0
    eval_model = ema if ema is not None else model

    def save(final: bool = False) -> None:
        torch.save({k: v.detach().cpu() for k, v in eval_model.state_dict().items()}, out_dir / "prior.pt")
        log.update(steps=step, wall_seconds=time.time() - start, epochs=epoch + cursor / len(train_ids), finished=final)
        (out_dir / "train_log.json").write_text(json.dumps(log, indent=1))
        resumable = {
            "config": saved_config,
            "model": model.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "epoch": epoch,
            "cursor": cursor,
            "seconds": time.time() - start,
            "log": log,
        }
        tmp = out_dir / (STATE_FILE + ".tmp")
        torch.save(resumable, tmp)
        tmp.replace(out_dir / STATE_FILE)

    def evaluate() -> float:
        vl = validation_loss(eval_model.eval(), val, 500, seed)
        log["val_curve"].append({"step": step, "seconds": round(time.time() - start, 1), "val_loss": vl})
        return vl

    def check_samples() -> None:
        if sample_check is None:
            return
        check = {**sample_check(eval_model, tcfg.sample_size, seed), "step": step}
        log["samples"].append(check)
        say(f"step {step} samples: " + ", ".join(f"{k} {v}" for k, v in check.items() if k != "step")[:300])

    while True:
        elapsed = time.time() - start
        progress = max(step / max_steps, elapsed / max_seconds if max_seconds > 0 else 0.0)
        if progress >= 1.0:
            break
        if (tcfg.session_steps is not None and step - session_first_step >= tcfg.session_steps) or (
            tcfg.session_minutes is not None and time.time() - session_start >= 60.0 * tcfg.session_minutes
        ):
            save(final=False)
            say(f"session budget spent at step {step}; continue with train.resume=true")
            return log
        lr = tcfg.lr * lr_factor(step, progress, tcfg.warmup_steps, tcfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if cursor + batch_size > len(train_ids):
            cursor, epoch = 0, epoch + 1
            perm = permutation(epoch)
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
            say(f"step {step} val_loss {evaluate():.4f}")
            save()
        if tcfg.sample_every > 0 and step % tcfg.sample_every == 0:
            check_samples()

    if not (log["val_curve"] and log["val_curve"][-1]["step"] == step):
        evaluate()
    if not (log["samples"] and log["samples"][-1]["step"] == step):
        check_samples()
    save(final=True)
    final_loss = log["val_curve"][-1]["val_loss"]
    say(f"done: {step} steps, {time.time() - start:.0f} s, val_loss {final_loss:.4f}; wrote {out_dir}")
    return log

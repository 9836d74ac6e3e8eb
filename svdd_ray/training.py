"""One training loop for every diffusion prior (masked over tokens: molecules, DNA; Gaussian: digits), resumable.

:func:`train_prior_loop` runs AdamW with warm-up and cosine decay (following whichever of
``max_steps`` / ``max_minutes`` is closer to its end), gradient clipping, an EMA of the weights,
periodic validation loss (the model's own ``loss``: NELBO for masked diffusion, epsilon MSE for
Gaussian) and sample checks. At every evaluation it writes, into ``out_dir``:

* ``prior.pt``: the EMA (or plain) ``state_dict`` (of ``export(model)`` where given) - what the
  ``load_prior`` functions read;
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
from torch import Tensor, nn

from svdd_ray.errors import ConfigError

__all__ = ["TransformerConfig", "TrainLoopConfig", "train_prior_loop", "lr_factor", "validation_loss"]

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
    """Optimiser, schedule, budget, logging and resumption of :func:`train_prior_loop`.

    ``max_steps`` / ``max_minutes`` (``None``: no time budget) are the whole run's budget (resumed
    sessions included) and shape the learning-rate schedule; ``session_steps`` / ``session_minutes`` stop this
    invocation early
    (state saved, ``finished: false``) so a later one continues with ``resume: true``.
    """

    batch_size: int = 128
    lr: float = 1.0e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 100_000
    max_minutes: float | None = 60.0
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
    """The ``train_state.pt`` in ``out_dir``, if any; refused if another model or data config wrote it."""
    path = out_dir / STATE_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    where = ("train", "resolved", "out_dir", "output_dir")  # how and where it trains, not what
    previous = {k: v for k, v in state["config"].items() if k not in where}
    current = {k: v for k, v in saved_config.items() if k not in where}
    if previous != current:
        raise ConfigError(
            f"train.resume: {path} was written by a different config (model or data differ); "
            "use another out_dir or train.resume=false"
        )
    return state


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Move the EMA's parameters toward the model's by ``1 - decay``; buffers follow the model."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def _as_batch(rows: Tensor, device: torch.device) -> Tensor:
    """Token rows become ``long`` (embedding indices); real-valued rows (images) keep their dtype."""
    return (rows if rows.is_floating_point() else rows.long()).to(device)


class _PriorTrainer:
    """One :func:`train_prior_loop` call: the model, its EMA and optimiser, the counters and the log."""

    def __init__(
        self,
        model: nn.Module,
        train_data: Tensor,
        val: Tensor,
        tcfg: TrainLoopConfig,
        out_dir: Path,
        saved_config: dict,
        seed: int,
        sample_check: Callable[[nn.Module, int, int], dict] | None,
        name: str,
        export: Callable[[nn.Module], nn.Module] | None,
    ):
        self.model, self.train_data, self.val, self.tcfg = model, train_data, val, tcfg
        self.out_dir, self.saved_config, self.seed, self.name = out_dir, saved_config, seed, name
        self.sample_check, self.export = sample_check, export or (lambda module: module)
        self.ema = copy.deepcopy(model).eval().requires_grad_(False) if tcfg.ema_decay > 0 else None
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        self.generator = torch.Generator(device=val.device).manual_seed(seed + 1)
        self.log: dict[str, Any] = {"config": saved_config, "loss_curve": [], "val_curve": [], "samples": []}
        self.log["resumed"] = []
        self.step, self.epoch, self.cursor, self.start = 0, 0, 0, time.time()
        self.running, self.running_n = 0.0, 0
        self.max_seconds = 60.0 * tcfg.max_minutes if tcfg.max_minutes else 0.0

    @property
    def eval_model(self) -> nn.Module:
        return self.ema if self.ema is not None else self.model

    def say(self, msg: str) -> None:
        print(f"[{self.name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def restore(self) -> float:
        """Continue from ``train_state.pt`` (with ``resume``); the seconds that earlier sessions spent."""
        state = _resumable_state(self.out_dir, self.saved_config) if self.tcfg.resume else None
        if state is None:
            return 0.0
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].to(self.generator.get_state().device))
        torch.set_rng_state(state["torch_rng"])
        self.step, self.epoch, self.cursor = state["step"], state["epoch"], state["cursor"]
        self.log = state["log"]
        self.log["resumed"].append({"step": self.step, "seconds": round(state["seconds"], 1)})
        self.say(f"resumed from {self.out_dir / STATE_FILE} at step {self.step} ({state['seconds']:.0f} s spent)")
        return state["seconds"]

    def permutation(self) -> Tensor:
        """The data order of the current epoch (from the seed and the epoch only, so resumes see the same)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.train_data), generator=generator)

    def save(self, final: bool = False) -> None:
        """``prior.pt``, ``train_log.json`` and ``train_state.pt`` (written whole, then moved in place)."""
        weights = self.export(self.eval_model).state_dict()
        torch.save({k: v.detach().cpu() for k, v in weights.items()}, self.out_dir / "prior.pt")
        epochs = self.epoch + self.cursor / len(self.train_data)
        self.log.update(steps=self.step, wall_seconds=time.time() - self.start, epochs=epochs, finished=final)
        (self.out_dir / "train_log.json").write_text(json.dumps(self.log, indent=1))
        resumable = {
            "config": self.saved_config,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "cursor": self.cursor,
            "seconds": time.time() - self.start,
            "log": self.log,
        }
        tmp = self.out_dir / (STATE_FILE + ".tmp")
        torch.save(resumable, tmp)
        tmp.replace(self.out_dir / STATE_FILE)

    def evaluate(self) -> float:
        vl = validation_loss(self.eval_model.eval(), self.val, 500, self.seed)
        self.log["val_curve"].append({"step": self.step, "seconds": round(time.time() - self.start, 1), "val_loss": vl})
        return vl

    def check_samples(self) -> None:
        if self.sample_check is None:
            return
        check = {**self.sample_check(self.eval_model, self.tcfg.sample_size, self.seed), "step": self.step}
        self.log["samples"].append(check)
        self.say(f"step {self.step} samples: " + ", ".join(f"{k} {v}" for k, v in check.items() if k != "step")[:300])

    def progress(self) -> float:
        """How far the run is through its budget: steps or minutes, whichever is further along."""
        elapsed = time.time() - self.start
        return max(self.step / self.tcfg.max_steps, elapsed / self.max_seconds if self.max_seconds > 0 else 0.0)

    def session_over(self, session_start: float, first_step: int) -> bool:
        tcfg = self.tcfg
        return (tcfg.session_steps is not None and self.step - first_step >= tcfg.session_steps) or (
            tcfg.session_minutes is not None and time.time() - session_start >= 60.0 * tcfg.session_minutes
        )

    def next_batch(self) -> Tensor:
        """The next ``batch_size`` rows of the epoch's order (a new epoch when too few are left)."""
        batch_size = self.tcfg.batch_size
        if self.cursor + batch_size > len(self.train_data):
            self.cursor, self.epoch = 0, self.epoch + 1
            self.perm = self.permutation()
        rows = self.train_data[self.perm[self.cursor : self.cursor + batch_size]]
        self.cursor += batch_size
        return _as_batch(rows, self.val.device)

    def optimise(self, lr: float) -> float:
        """One AdamW step at ``lr`` on the next batch (clipped gradients), then the EMA; the batch loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self.next_batch()
        self.model.train()
        loss = self.model.loss(batch, generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.tcfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tcfg.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            _ema_update(self.ema, self.model, min(self.tcfg.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        return float(loss.detach())

    def record(self, loss: float, lr: float) -> None:
        """The loss curve every ``log_every`` steps; validation and saving, sample checks on their schedules."""
        tcfg, step = self.tcfg, self.step
        self.running += loss
        self.running_n += 1
        if step % tcfg.log_every == 0:
            entry = {"step": step, "seconds": round(time.time() - self.start, 1), "loss": self.running / self.running_n}
            entry["lr"] = lr
            self.log["loss_curve"].append(entry)
            self.say(f"step {step} loss {entry['loss']:.4f} lr {lr:.2e} ({entry['seconds']:.0f} s)")
            self.running, self.running_n = 0.0, 0
        if step % tcfg.eval_every == 0:
            self.say(f"step {step} val_loss {self.evaluate():.4f}")
            self.save()
        if tcfg.sample_every > 0 and step % tcfg.sample_every == 0:
            self.check_samples()

    def run(self) -> dict:
        spent = self.restore()
        self.perm = self.permutation()
        session_start, first_step = time.time(), self.step
        self.start = session_start - spent
        tcfg = self.tcfg
        while (progress := self.progress()) < 1.0:
            if self.session_over(session_start, first_step):
                self.save(final=False)
                self.say(f"session budget spent at step {self.step}; continue with train.resume=true")
                return self.log
            lr = tcfg.lr * lr_factor(self.step, progress, tcfg.warmup_steps, tcfg.min_lr_ratio)
            self.record(self.optimise(lr), lr)
        if not (self.log["val_curve"] and self.log["val_curve"][-1]["step"] == self.step):
            self.evaluate()
        if not (self.log["samples"] and self.log["samples"][-1]["step"] == self.step):
            self.check_samples()
        self.save(final=True)
        seconds, final_loss = time.time() - self.start, self.log["val_curve"][-1]["val_loss"]
        self.say(f"done: {self.step} steps, {seconds:.0f} s, val_loss {final_loss:.4f}; wrote {self.out_dir}")
        return self.log


def train_prior_loop(
    model: nn.Module,
    train_data: Tensor,
    val: Tensor,
    tcfg: TrainLoopConfig,
    out_dir: Path,
    saved_config: dict,
    seed: int,
    sample_check: Callable[[nn.Module, int, int], dict] | None = None,
    name: str = "train_prior",
    export: Callable[[nn.Module], nn.Module] | None = None,
) -> dict:
    """Train ``model`` (a diffusion model with ``loss(x0, generator)``, on its device) on rows of ``train_data``.

    Returns the training log. ``train_data`` stays on the CPU (token ids of any integer dtype, or
    real-valued rows such as images); batches move to the model's device. ``val`` is on the device.
    ``sample_check(model, n, seed)`` returns a small dict logged with each sample check (validity,
    GC content, ...). ``export(model)`` is the part whose ``state_dict`` is ``prior.pt`` (default:
    the whole model). With ``tcfg.resume`` and a ``train_state.pt`` from the same config in
    ``out_dir``, training continues from it; the budget (``max_steps``, ``max_minutes``) counts the
    steps and time already spent.
    """
    trainer = _PriorTrainer(model, train_data, val, tcfg, out_dir, saved_config, seed, sample_check, name, export)
    return trainer.run()

"""Cell-type classifiers for 200-bp DNase sites: the guide (SVDD's reward) and the evaluation oracle.

Both map one-hot DNA ``[n, 4, 200]`` (channels ``A C G T``) to four logits in the order of
:data:`~svdd_ray.dna.data.CELL_TYPES` (HepG2, K562, GM12878, hESC), and average the logits of a
sequence and its reverse complement, so a site scores the same on either strand.

* ``guide`` (:class:`GuideCNN`): a compact CNN (motif convolution, max pooling, a second
  convolution, global max and mean pooling, a two-layer head) with SiLU activations, so input
  gradients are usable for gradient (DPS) guidance. Trained on the training rows of
  :data:`~svdd_ray.dna.data.GUIDE_CHROMOSOMES`.
* ``oracle`` (:class:`OracleResNet`): a wider, deeper dilated residual CNN with GELU activations,
  trained on the training rows of the disjoint :data:`~svdd_ray.dna.data.ORACLE_CHROMOSOMES`. It
  is never used for guidance: a design that fools the guide but not the oracle shows up as a gap.

Both train with random reverse-complement and small shift augmentation; the validation split
(chr2) picks the epoch to keep (early stopping on mean one-vs-rest AUROC), and the test split
(chr1) is only ever scored. The committed weights are plain ``state_dict`` files,
``checkpoints/dna/{guide,oracle}_classifier.pt``, each with its training log
``<kind>_classifier.json`` (which also holds the architecture's hyper-parameters);
``$SVDD_RAY_DNA_CHECKPOINTS`` overrides the directory. Reproduce with::

    python -m svdd_ray.dna.classifier train --kind guide
    python -m svdd_ray.dna.classifier train --kind oracle

Their card, ``CLASSIFIERS.md``, is written outside the library: ``python -m experiments.cards.dna classifiers``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.package_data import checkpoint_dir, checkpoint_env

from .data import CELL_TYPES, GUIDE_CHROMOSOMES, ORACLE_CHROMOSOMES, Sites, load_sites, one_hot

__all__ = [
    "CHECKPOINT_DIR_ENV",
    "DEFAULT_EPOCHS",
    "KINDS",
    "GuideCNN",
    "OracleResNet",
    "build_classifier",
    "count_parameters",
    "default_checkpoint_dir",
    "default_classifier_path",
    "evaluate",
    "load_classifier",
    "logit_metrics",
    "predict_logits",
    "reverse_complement_onehot",
    "train_classifier",
]

#: Environment variable that overrides where the DNA checkpoints live.
CHECKPOINT_DIR_ENV = checkpoint_env("dna")
KINDS = ("guide", "oracle")
_CHROMOSOMES = {"guide": GUIDE_CHROMOSOMES, "oracle": ORACLE_CHROMOSOMES}
#: Default epochs per kind, sized so each run fits in about ten minutes on one CPU thread.
DEFAULT_EPOCHS = {"guide": 12, "oracle": 6}


def default_checkpoint_dir() -> Path:
    """``$SVDD_RAY_DNA_CHECKPOINTS`` if set, else ``<repo>/checkpoints/dna`` (:func:`checkpoint_dir`)."""
    return checkpoint_dir("dna")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"DNA classifier kind: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return kind


def default_classifier_path(kind: str) -> Path:
    """``<checkpoint dir>/<kind>_classifier.pt``."""
    return default_checkpoint_dir() / f"{_check_kind(kind)}_classifier.pt"


def reverse_complement_onehot(x: Tensor) -> Tensor:
    """Reverse complement of one-hot ``[..., 4, L]`` (channels ``A C G T``): flip channels and positions."""
    return x.flip(-2).flip(-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _StrandAveraged(nn.Module):
    """Base: ``forward`` averages the logits of ``x`` and of its reverse complement."""

    def __init__(self, rc_average: bool = True):
        super().__init__()
        self.rc_average = rc_average

    def strand_logits(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != 4:
            raise ValueError(f"expected one-hot DNA [n, 4, L], got shape {tuple(x.shape)}")
        if not self.rc_average:
            return self.strand_logits(x)
        both = self.strand_logits(torch.cat([x, reverse_complement_onehot(x)]))
        forward, reverse = both.chunk(2)
        return 0.5 * (forward + reverse)


class GuideCNN(_StrandAveraged):
    """Compact CNN: conv(k) -> SiLU -> max pool -> conv(7) -> SiLU -> global max+mean -> MLP -> 4 logits."""

    def __init__(
        self,
        channels: int = 128,
        kernel: int = 15,
        pool: int = 4,
        hidden: int = 128,
        dropout: float = 0.2,
        num_classes: int = len(CELL_TYPES),
        rc_average: bool = True,
    ):
        super().__init__(rc_average)
        self.pool = pool
        self.conv1 = nn.Conv1d(4, channels, kernel, padding=kernel // 2)
        self.norm1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, 7, padding=3)
        self.norm2 = nn.BatchNorm1d(channels)
        self.fc = nn.Linear(2 * channels, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def strand_logits(self, x: Tensor) -> Tensor:
        h = F.max_pool1d(F.silu(self.norm1(self.conv1(x))), self.pool, ceil_mode=True)
        h = F.silu(self.norm2(self.conv2(h)))
        h = torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)
        return self.head(self.dropout(F.silu(self.fc(h))))


class _DilatedBlock(nn.Module):
    """Pre-norm residual block: BN -> GELU -> dilated conv(3) -> BN -> GELU -> 1x1 conv, added to the input."""

    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.norm1 = nn.BatchNorm1d(channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm2 = nn.BatchNorm1d(channels)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(F.gelu(self.norm1(x)))
        return x + self.dropout(self.mix(F.gelu(self.norm2(h))))


class OracleResNet(_StrandAveraged):
    """Dilated residual CNN: conv(k) -> GELU -> max pool -> dilated residual blocks -> global max+mean -> MLP."""

    def __init__(
        self,
        channels: int = 128,
        kernel: int = 11,
        pool: int = 4,
        dilations: Iterable[int] = (1, 2, 4, 8, 16),
        hidden: int = 128,
        dropout: float = 0.2,
        num_classes: int = len(CELL_TYPES),
        rc_average: bool = True,
    ):
        super().__init__(rc_average)
        self.pool = pool
        self.stem = nn.Conv1d(4, channels, kernel, padding=kernel // 2)
        self.blocks = nn.Sequential(*[_DilatedBlock(channels, int(d), 0.1 * dropout) for d in dilations])
        self.norm = nn.BatchNorm1d(channels)
        self.fc = nn.Linear(2 * channels, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def strand_logits(self, x: Tensor) -> Tensor:
        h = F.max_pool1d(F.gelu(self.stem(x)), self.pool, ceil_mode=True)
        h = F.gelu(self.norm(self.blocks(h)))
        h = torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)
        return self.head(self.dropout(F.gelu(self.fc(h))))


_ARCHITECTURES = {"guide": GuideCNN, "oracle": OracleResNet}


def build_classifier(kind: str, **hparams) -> _StrandAveraged:
    """A fresh (untrained) classifier of ``kind`` with ``hparams`` over the defaults."""
    return _ARCHITECTURES[_check_kind(kind)](**hparams)


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 512) -> Tensor:
    """Logits ``[n, 4]`` of one-hot ``x [n, 4, L]`` in eval mode, in batches, on the model's device."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, len(CELL_TYPES))


def logit_metrics(logits: Tensor, labels: np.ndarray) -> dict:
    """Accuracy, per-class one-vs-rest AUROC (NaN for a class absent or alone), cross-entropy."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    probs = torch.softmax(logits.float(), dim=-1).numpy()
    auroc = {}
    for c, name in enumerate(CELL_TYPES):
        positive = labels == c
        auroc[name] = float(roc_auc_score(positive, probs[:, c])) if 0 < positive.sum() < len(labels) else math.nan
    finite = [v for v in auroc.values() if math.isfinite(v)]
    return {
        "n": int(len(labels)),
        "accuracy": float((logits.argmax(-1).numpy() == labels).mean()) if len(labels) else math.nan,
        "loss": float(F.cross_entropy(logits.float(), torch.as_tensor(labels).long())) if len(labels) else math.nan,
        "auroc": auroc,
        "mean_auroc": float(np.mean(finite)) if finite else math.nan,
    }


def evaluate(model: nn.Module, sites: Sites) -> dict:
    """:func:`logit_metrics` of ``model`` on ``sites``: accuracy, loss, per-class and mean AUROC."""
    return logit_metrics(predict_logits(model, one_hot(sites.tokens)), sites.cell)


# ---------------------------------------------------------------------------------------------
# training


def _training_rows(kind: str, chromosomes, sites_path, max_rows: int | None, seed: int) -> tuple[Sites, list[str]]:
    train = load_sites("training", path=sites_path)
    chroms = sorted(_CHROMOSOMES[kind] if chromosomes is None else set(chromosomes), key=_chrom_order)
    rows = train.where(np.isin(train.chromosome, chroms))
    if max_rows is not None and len(rows) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
        rows = rows.where(np.isin(np.arange(len(rows)), keep))
    return rows, chroms


def _chrom_order(name: str):
    tail = name.removeprefix("chr")
    return (0, int(tail), "") if tail.isdigit() else (1, 0, tail)


def _augment(x: Tensor, generator: torch.Generator, max_shift: int) -> Tensor:
    """Reverse-complement half the rows at random; shift the batch by up to ``max_shift`` (zero fill)."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    x = torch.where(flip[:, None, None], reverse_complement_onehot(x), x)
    if max_shift > 0:
        shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=generator))
        if shift:
            x = torch.roll(x, shift, dims=-1)
            if shift > 0:
                x[..., :shift] = 0.0
            else:
                x[..., shift:] = 0.0
    return x


def train_classifier(
    kind: str,
    out_path: str | os.PathLike | None = None,
    seed: int = 0,
    max_minutes: float = 9.5,
    epochs: int | None = None,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    patience: int = 5,
    max_shift: int = 3,
    max_steps: int | None = None,
    max_rows: int | None = None,
    chromosomes: Iterable[str] | None = None,
    sites_path: str | os.PathLike | None = None,
    hparams: dict | None = None,
    verbose: bool = False,
) -> dict:
    """Train the ``kind`` classifier (``guide`` or ``oracle``); return its training log.

    Trains on the ``training`` rows of the kind's chromosomes (``chromosomes`` overrides them;
    ``max_rows`` takes a random subset), with AdamW, a one-cycle learning rate over ``epochs``
    (default :data:`DEFAULT_EPOCHS` of the kind) and
    reverse-complement / shift augmentation. After every epoch (and at the end of ``max_steps``,
    if given) the validation split (chr2) is scored; the state with the best mean one-vs-rest
    AUROC is kept, and training stops after ``patience`` epochs without improvement or when
    ``max_minutes`` of wall time are spent. The test split (chr1) is only scored, at the end.

    Deterministic for a seed on one thread (unless the time limit cuts it short). If ``out_path``
    is given, the ``state_dict`` is saved there and the log next to it (``.json``).
    """
    _check_kind(kind)
    epochs = DEFAULT_EPOCHS[kind] if epochs is None else int(epochs)
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rows, chroms = _training_rows(kind, chromosomes, sites_path, max_rows, seed)
    if len(rows) == 0:
        raise ValueError(f"DNA classifier: no training rows on chromosomes {chroms}")
    validation = load_sites("validation", path=sites_path)
    test = load_sites("test", path=sites_path)
    x, y = one_hot(rows.tokens), torch.as_tensor(rows.cell).long()
    x_val = one_hot(validation.tokens)

    arch = dict(hparams or {})
    model = build_classifier(kind, **arch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, math.ceil(len(x) / batch_size))
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=0.1)

    best = {"score": -math.inf, "state": copy.deepcopy(model.state_dict()), "epoch": 0}
    history, step, stop_reason, since_best = [], 0, "epochs", 0
    deadline = start + 60.0 * max_minutes
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model.strand_logits(_augment(x[idx], gen, max_shift)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            step += 1
            if step >= total_steps or time.perf_counter() > deadline:
                break
        val = logit_metrics(predict_logits(model, x_val), validation.cell)
        score = val["mean_auroc"] if math.isfinite(val["mean_auroc"]) else -val["loss"]
        history.append(
            {
                "epoch": epoch,
                "steps": step,
                "train_loss": float(np.mean(losses)),
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_mean_auroc": val["mean_auroc"],
                "wall_s": round(time.perf_counter() - start, 1),
            }
        )
        if verbose:
            h = history[-1]
            print(
                f"[{kind}] epoch {epoch} step {step}: train loss {h['train_loss']:.4f} val loss {h['val_loss']:.4f} "
                f"acc {h['val_accuracy']:.4f} mean AUROC {h['val_mean_auroc']:.4f} ({h['wall_s']:.0f} s)",
                flush=True,
            )
        if score > best["score"]:
            best = {"score": score, "state": copy.deepcopy(model.state_dict()), "epoch": epoch}
            since_best = 0
        else:
            since_best += 1
        if step >= total_steps:
            stop_reason = "steps" if max_steps is not None and step >= max_steps else "epochs"
            break
        if time.perf_counter() > deadline:
            stop_reason = "time"
            break
        if since_best >= patience:
            stop_reason = "early stopping"
            break

    model.load_state_dict(best["state"])
    model.eval()
    train_wall = time.perf_counter() - start
    log = {
        "kind": kind,
        "architecture": {"class": type(model).__name__, "hparams": _hparams(model, arch)},
        "num_parameters": count_parameters(model),
        "seed": seed,
        "data": {
            "chromosomes": chroms,
            "num_rows": int(len(rows)),
            "rows_per_class": {name: int((rows.cell == c).sum()) for c, name in enumerate(CELL_TYPES)},
            "validation_rows": int(len(validation)),
            "test_rows": int(len(test)),
            "max_rows": max_rows,
            "sites_path": None if sites_path is None else str(sites_path),
        },
        "training": {
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "max_epochs": epochs,
            "patience": patience,
            "max_shift": max_shift,
            "augmentation": "random reverse complement (p=0.5), batch shift of up to max_shift bp (zero fill)",
            "max_minutes": max_minutes,
            "max_steps": max_steps,
            "steps": step,
            "epochs_run": len(history),
            "best_epoch": best["epoch"],
            "stop_reason": stop_reason,
            "wall_time_s": round(train_wall, 1),
            "history": history,
        },
        "validation": evaluate(model, validation),
        "test": evaluate(model, test),
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        },
    }
    if out_path is not None:
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out_path)
        log["checkpoint_bytes"] = out_path.stat().st_size
        out_path.with_suffix(".json").write_text(json.dumps(log, indent=2) + "\n")
    return log


def _hparams(model: nn.Module, given: dict) -> dict:
    """The constructor arguments that rebuild ``model`` (defaults filled in)."""
    import inspect

    params = inspect.signature(type(model).__init__).parameters
    out = {k: p.default for k, p in params.items() if k != "self" and p.default is not inspect.Parameter.empty}
    out.update(given)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _log_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load_classifier(
    kind: str, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> _StrandAveraged:
    """The committed (or given) ``kind`` classifier in eval mode, parameters frozen.

    The architecture's hyper-parameters come from the training log next to the weights
    (``<path>.json``, key ``architecture.hparams``) when it exists, else from the defaults.
    """
    _check_kind(kind)
    path = Path(path) if path is not None else default_classifier_path(kind)
    if not path.is_file():
        raise FileNotFoundError(
            f"DNA {kind} classifier checkpoint not found at {path}; train one with "
            f"`python -m svdd_ray.dna.classifier train --kind {kind}` or pass a path "
            f"(${CHECKPOINT_DIR_ENV} sets the directory)"
        )
    hparams = {}
    log = _log_path(path)
    if log.is_file():
        hparams = json.loads(log.read_text()).get("architecture", {}).get("hparams", {})
    model = build_classifier(kind, **hparams)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ---------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m svdd_ray.dna.classifier", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a classifier and write <kind>_classifier.pt and .json")
    train.add_argument("--kind", choices=KINDS, required=True)
    train.add_argument("--max-minutes", type=float, default=9.5)
    train.add_argument("--epochs", type=int, default=None, help=f"default {DEFAULT_EPOCHS}")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1)
    train.add_argument("--out", type=Path, default=None, help="checkpoint path (default: the checkpoint directory)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or default_classifier_path(args.kind)
    log = train_classifier(
        args.kind, out, seed=args.seed, max_minutes=args.max_minutes, epochs=args.epochs, verbose=True
    )
    test = log["test"]
    print(
        f"[{args.kind}] wrote {out} ({log['checkpoint_bytes'] / 1e6:.2f} MB) "
        f"in {log['training']['wall_time_s']:.0f} s; "
        f"test accuracy {test['accuracy']:.4f}, AUROC "
        + ", ".join(f"{k} {v:.4f}" for k, v in test["auroc"].items())
        + "; the card: python -m experiments.cards.dna classifiers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train a molecule prior on MOSES (``domain: molecules``).

Two kinds, chosen by ``diffusion.order``: ``random`` - masked diffusion with a transformer
(``network``), revealing tokens in random order over ``diffusion.num_steps`` steps; and
``left_to_right`` - an LSTM (``lstm``) that reveals ``diffusion.block_size`` tokens per step from
the left (:class:`~svdd_ray.models.autoregressive.LeftToRightDiffusion`). ``data.tokens`` picks
SELFIES or atom-level SMILES.

Entry point: :func:`train_prior(config, out_dir)` with a :class:`MolPriorConfig`, called by
``jobs/train_prior.py``. Writes into ``out_dir``:

* ``prior.pt``: the model's ``state_dict()`` (EMA weights if enabled),
  loadable with ``torch.load(path, weights_only=True)``;
* ``vocab.json``: the token vocabulary (:mod:`svdd_ray.chem.tokens`);
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
from typing import Any, ClassVar

import numpy as np
import torch
import yaml

from svdd_ray.chem.network import SequenceTransformer
from svdd_ray.chem.tokens import MoleculeVocab, SelfiesVocab, SmilesVocab, encoded_moses, load_vocab
from svdd_ray.config import as_schema, load_checkpoint_config
from svdd_ray.devices import pick_device
from svdd_ray.errors import ConfigError
from svdd_ray.package_data import checkpoint_dir
from svdd_ray.training import TrainLoopConfig, TransformerConfig, train_prior_loop

__all__ = [
    "MolPriorConfig",
    "build_model",
    "train_prior",
    "load_prior",
    "load_smiles_prior",
    "default_checkpoint_dir",
    "smiles_checkpoint_dir",
]


VOCABS = {"selfies": SelfiesVocab, "smiles": SmilesVocab}
ORDERS = ("random", "left_to_right")


@dataclass
class MolDataConfig:
    """The MOSES train split (``limit``: first N molecules; ``val_size`` held out) and its tokens."""

    dataset: str = "moses"
    limit: int | None = None
    val_size: int = 2000
    tokens: str = "selfies"

    def check(self, path: str) -> None:
        if self.dataset != "moses":
            raise ConfigError(f"{path}.dataset: unknown molecule dataset {self.dataset!r} (only 'moses')")
        if self.tokens not in VOCABS:
            raise ConfigError(f"{path}.tokens: {self.tokens!r} is not one of {', '.join(VOCABS)}")


@dataclass
class LstmConfig:
    """:class:`~svdd_ray.models.autoregressive.CausalLSTM` size (``diffusion.order: left_to_right``)."""

    d_embed: int = 64
    hidden: int = 384
    layers: int = 2
    dropout: float = 0.0


#: :class:`~svdd_ray.models.transformer.SequenceTransformer` size.
MolNetworkConfig = TransformerConfig


@dataclass
class MolDiffusionConfig:
    """How the prior generates: reveal ``order``, and its steps.

    ``random``: ``num_steps`` reverse steps of masked diffusion. ``left_to_right``:
    ``block_size`` tokens per step, so ``ceil(seq_len / block_size)`` steps (``num_steps`` is
    then unused); ``temperature`` scales its logits when sampling; ``smiles_syntax`` (SMILES tokens)
    allows only tokens that keep each prefix a syntactically possible SMILES
    (:class:`~svdd_ray.chem.grammar.SmilesSyntax`), in sampling and in the x0 completion.
    """

    num_steps: int = 50
    order: str = "random"
    block_size: int = 4
    temperature: float = 1.0
    smiles_syntax: bool = False

    def check(self, path: str) -> None:
        if self.order not in ORDERS:
            raise ConfigError(f"{path}.order: {self.order!r} is not one of {', '.join(ORDERS)}")
        if self.num_steps < 1 or self.block_size < 1:
            raise ConfigError(f"{path}: num_steps and block_size must be >= 1")
        if not self.temperature > 0:
            raise ConfigError(f"{path}.temperature: must be > 0, got {self.temperature!r}")


#: Optimiser, schedule, budget, logging and resumption (the shared masked-prior training loop).
MolTrainConfig = TrainLoopConfig


@dataclass
class MolPriorConfig:
    """A training run of the MOSES prior (``domain: molecules``)."""

    RENAMED: ClassVar[dict[str, str]] = {"out_dir": "output_dir"}

    domain: str = "molecules"
    seed: int = 0
    output_dir: str | None = None
    data: MolDataConfig = field(default_factory=MolDataConfig)
    network: MolNetworkConfig = field(default_factory=MolNetworkConfig)
    lstm: LstmConfig = field(default_factory=LstmConfig)
    diffusion: MolDiffusionConfig = field(default_factory=MolDiffusionConfig)
    train: MolTrainConfig = field(default_factory=MolTrainConfig)

    def check(self, path: str) -> None:
        if self.domain != "molecules":
            raise ConfigError(f"{path}.domain: svdd_ray.chem.train trains domain 'molecules', not {self.domain!r}")
        if self.diffusion.smiles_syntax and (self.data.tokens != "smiles" or self.diffusion.order != "left_to_right"):
            raise ConfigError(f"{path}.diffusion.smiles_syntax: only a left-to-right prior over SMILES tokens takes it")


def as_config(config: MolPriorConfig | dict | None) -> MolPriorConfig:
    """``config`` itself, or a mapping validated into :class:`MolPriorConfig` (defaults filled in)."""
    return as_schema(MolPriorConfig, config)


def build_model(config: MolPriorConfig, vocab: MoleculeVocab):
    """The (untrained) model described by ``config``: a ``MaskedDiffusion`` or a ``LeftToRightDiffusion``."""
    from svdd_ray.models import MaskedDiffusion
    from svdd_ray.models.autoregressive import CausalLSTM, LeftToRightDiffusion

    diffusion = config.diffusion
    if diffusion.smiles_syntax and not (isinstance(vocab, SmilesVocab) and diffusion.order == "left_to_right"):
        raise ConfigError("smiles_syntax: only a left-to-right prior over SMILES tokens takes it")
    if diffusion.order == "left_to_right":
        from svdd_ray.chem.grammar import SmilesSyntax

        network = CausalLSTM(vocab.size, **dataclasses.asdict(config.lstm))
        constraint = SmilesSyntax(vocab) if diffusion.smiles_syntax else None
        return LeftToRightDiffusion(
            network,
            vocab.size,
            vocab.seq_len,
            diffusion.block_size,
            diffusion.temperature,
            decoder=vocab.decode,
            constraint=constraint,
        )
    network = SequenceTransformer(vocab.size, vocab.seq_len, **dataclasses.asdict(config.network))
    return MaskedDiffusion(network, vocab.size, vocab.seq_len, num_steps=diffusion.num_steps, decoder=vocab.decode)


def default_checkpoint_dir() -> Path:
    """The SELFIES prior: ``$SVDD_RAY_MOSES_CHECKPOINTS`` or ``checkpoints/moses`` (:func:`checkpoint_dir`)."""
    return checkpoint_dir("moses")


def smiles_checkpoint_dir() -> Path:
    """The left-to-right SMILES prior: ``$SVDD_RAY_MOSES_SMILES_CHECKPOINTS`` or ``checkpoints/moses_smiles``."""
    return checkpoint_dir("moses_smiles")


def load_smiles_prior(checkpoint_dir: str | os.PathLike | None = None, device: str = "cpu", **overrides: Any):
    """:func:`load_prior` of the left-to-right SMILES prior (``checkpoints/moses_smiles`` by default)."""
    return load_prior(checkpoint_dir or smiles_checkpoint_dir(), device, **overrides)


def load_prior(checkpoint_dir: str | os.PathLike | None = None, device: str = "cpu", **overrides: Any):
    """A trained MOSES prior, ready in eval mode (no gradients): a ``MaskedDiffusion`` or a ``LeftToRightDiffusion``.

    ``checkpoint_dir`` defaults to the committed ``checkpoints/moses``; ``overrides`` replace
    ``diffusion`` entries of the saved config (``num_steps=100``; ``block_size=2`` for a
    left-to-right prior). The vocabulary and the saved
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
    if config.diffusion.order == "left_to_right" and "num_steps" in overrides:
        raise ConfigError(
            "load_prior.num_steps: this prior reveals tokens left to right; set block_size instead "
            f"(steps = ceil(sequence length / block_size); saved block_size {config.diffusion.block_size})"
        )
    vocab = load_vocab(ckpt_dir / "vocab.json")
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
    say(f"encoding MOSES train set to {cfg.data.tokens} tokens (cached after the first run) ...")
    vocab, ids = encoded_moses(
        "train", limit=cfg.data.limit, progress=lambda d, n: say(f"  encoded {d}/{n}"), kind=VOCABS[cfg.data.tokens]
    )
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

    log = train_prior_loop(model, train_ids, val, tcfg, out_dir, saved, seed, _sample_check)
    log["data_seconds"] = data_seconds
    (out_dir / "train_log.json").write_text(json.dumps(log, indent=1))
    return log

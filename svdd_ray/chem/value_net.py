"""Value networks for SVDD-MC on the MOSES masked-diffusion prior.

Two designs, both regressed on pretrained rollouts by ``jobs/train_value.py``:

* :class:`FingerprintValueNet` reads the Morgan fingerprint of the prior's own denoised
  prediction x̂0(x_t) (the molecule SVDD-PM would score) with an MLP: a learned, cheap
  surrogate of the reward on that molecule. The better of the two on QED.
* :class:`SelfiesValueNet` reads the token state directly with a transformer.

``SelfiesValueNet()(x [n, L] token ids with masks, t_frac [n]) -> [n]`` regresses the reward of
the molecule that a pretrained rollout through the partly masked state ``x`` ends in. Its body
is the prior's own :class:`~svdd_ray.chem.network.SequenceTransformer`, warm-started from the
prior's weights (``prior="default"``: the committed ``checkpoints/moses``), so the regression
starts from features that already model SELFIES; a pooled MLP head reads them out. Wrap it in
:class:`svdd_ray.values.ValueNetwork` and train it with ``jobs/train_value.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml
from torch import Tensor, nn

from svdd_ray.values import StandardisedOutput

from .network import SequenceTransformer

__all__ = ["FingerprintValueNet", "SelfiesValueNet"]


def _prior_dir(prior: str | Path) -> Path:
    """``"default"`` (the committed SELFIES prior), ``"moses_smiles"`` (the left-to-right SMILES prior) or a
    checkpoint directory, checked for its files."""
    from .train import default_checkpoint_dir, smiles_checkpoint_dir

    named = {"default": default_checkpoint_dir, "moses": default_checkpoint_dir, "moses_smiles": smiles_checkpoint_dir}
    ckpt_dir = named[str(prior)]() if str(prior) in named else Path(prior)
    for name in ("config.yaml", "prior.pt", "vocab.json"):
        if not (ckpt_dir / name).is_file():
            raise FileNotFoundError(f"value network prior: {ckpt_dir / name} is missing")
    return ckpt_dir


def _prior_body(prior: str | Path) -> SequenceTransformer:
    """The prior checkpoint's network, with its trained weights."""
    ckpt_dir = _prior_dir(prior)
    config_file, weights = ckpt_dir / "config.yaml", ckpt_dir / "prior.pt"
    config = yaml.safe_load(config_file.read_text())
    resolved, net = config["resolved"], config["network"]
    body = SequenceTransformer(
        resolved["vocab_size"],
        resolved["seq_len"],
        d_model=net["d_model"],
        layers=net["layers"],
        heads=net["heads"],
        ff_mult=net["ff_mult"],
    )
    state = torch.load(weights, map_location="cpu", weights_only=True)
    body.load_state_dict({k.removeprefix("network."): v for k, v in state.items()})
    return body


class SelfiesValueNet(StandardisedOutput, nn.Module):
    """Transformer value network ``(x [n, L], t_frac [n]) -> [n]`` over SELFIES token states.

    Args:
        prior: checkpoint directory whose network initialises the body (``"default"``: the
            committed prior); ``None`` builds a fresh body from the size arguments below.
        vocab_size, seq_len, d_model, layers, heads, ff_mult: the body's size when ``prior`` is None.
        hidden: width of the head, which reads the mean- and max-pooled hidden states.
        train_body: False freezes the body (only the head learns): a small regressor over the
            prior's features, which cannot memorise the training molecules.
    """

    def __init__(
        self,
        prior: str | None = "default",
        vocab_size: int = 27,
        seq_len: int = 55,
        d_model: int = 96,
        layers: int = 4,
        heads: int = 4,
        ff_mult: int = 4,
        hidden: int = 128,
        train_body: bool = True,
    ) -> None:
        super().__init__()
        if prior is not None:
            self.body = _prior_body(prior)
        else:
            self.body = SequenceTransformer(
                vocab_size, seq_len, d_model=d_model, layers=layers, heads=heads, ff_mult=ff_mult
            )
        self.body.head = nn.Identity()  # token logits are not needed; features() feeds our head
        self.body.requires_grad_(train_body)
        width = self.body.d_model
        self.head = nn.Sequential(nn.Linear(2 * width, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.head[-1].weight)  # start at the training mean
        nn.init.zeros_(self.head[-1].bias)
        self._init_target_stats()

    def forward(self, x: Tensor, t_frac: Tensor) -> Tensor:
        h = self.body.features(x, t_frac)
        pooled = torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=-1)
        return self.unstandardise(self.head(pooled).squeeze(-1))


class FingerprintValueNet(StandardisedOutput, nn.Module):
    """MLP value ``(x [n, L], t_frac [n]) -> [n]`` over the fingerprint of the denoised prediction.

    The frozen prior (``prior``: ``"default"`` / ``"moses"``, ``"moses_smiles"`` or a checkpoint
    directory; its weights ride along in the checkpoint) gives the denoised prediction: every mask
    filled with its most likely token (masked prior) or the revealed prefix completed greedily
    (left-to-right prior, so SVDD-MC runs on the default ``moses_smiles`` prior); the decoded molecule's
    Morgan count fingerprint (``radius``, ``bits``; log1p counts, zeros for an empty decode)
    and ``t_frac`` feed a two-hidden-layer MLP. Not differentiable in ``x`` (SVDD needs no
    gradients).
    """

    def __init__(self, prior: str = "default", radius: int = 2, bits: int = 2048, hidden: int = 256) -> None:
        super().__init__()
        from .train import load_prior

        self.prior = load_prior(_prior_dir(prior))
        self.radius, self.bits = int(radius), int(bits)
        self.mlp = nn.Sequential(
            nn.Linear(self.bits + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )
        nn.init.zeros_(self.mlp[-1].weight)  # start at the training mean
        nn.init.zeros_(self.mlp[-1].bias)
        self._init_target_stats()

    @torch.no_grad()
    def denoised(self, x: Tensor, t_frac: Tensor) -> Tensor:
        """The prior's x0-prediction of states ``x`` (any mix of steps)."""
        from svdd_ray.models.autoregressive import LeftToRightDiffusion

        if isinstance(self.prior, LeftToRightDiffusion):
            return self.prior.greedy_completion(x)
        logits = self.prior.network(x, t_frac.float())
        return torch.where(x == self.prior.mask_id, logits.argmax(dim=-1), x)

    @torch.no_grad()
    def fingerprints(self, x: Tensor, t_frac: Tensor) -> Tensor:
        """``[n, bits]`` log1p Morgan counts of the decoded denoised predictions."""
        from rdkit import Chem
        from rdkit.Chem import rdFingerprintGenerator

        x0 = self.denoised(x, t_frac)
        generator = rdFingerprintGenerator.GetMorganGenerator(radius=self.radius, fpSize=self.bits)
        rows = np.zeros((len(x), self.bits), dtype=np.float32)
        for i, smiles in enumerate(self.prior.decode(x0)):
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            if mol is not None:
                rows[i] = generator.GetCountFingerprintAsNumPy(mol)
        return torch.log1p(torch.from_numpy(rows)).to(x.device)

    def forward(self, x: Tensor, t_frac: Tensor) -> Tensor:
        features = torch.cat([self.fingerprints(x, t_frac), t_frac.float()[:, None]], dim=-1)
        return self.unstandardise(self.mlp(features).squeeze(-1))

"""A small CNN digit classifier for 8x8 digits in ``[-1, 1]``: reward model and evaluation feature extractor.

The committed weights (``checkpoints/digits/classifier.pt``, a plain ``state_dict``) are produced by
:func:`train_classifier` on the fixed train split of :func:`svdd_ray.images.data.load_digits_split`.
Activations are smooth (SiLU, average pooling) so input gradients are usable for DPS-style guidance.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from svdd_ray.package_data import checkpoint_dir, checkpoint_env

from .data import NATIVE_RESOLUTION, load_digits_split

#: Environment variable that overrides where the digits checkpoints live.
CHECKPOINT_DIR_ENV = checkpoint_env("digits")


def default_checkpoint_dir() -> Path:
    """``$SVDD_RAY_DIGITS_CHECKPOINTS`` if set, else ``<repo>/checkpoints/digits`` (:func:`checkpoint_dir`)."""
    return checkpoint_dir("digits")


def default_classifier_path() -> Path:
    return default_checkpoint_dir() / "classifier.pt"


class DigitClassifier(nn.Module):
    """``[n, 1, 8, 8]`` in ``[-1, 1]`` -> 10 logits; :meth:`features` gives the penultimate layer.

    Inputs at another resolution are resampled to 8x8 (area / bilinear) before the first layer.
    """

    def __init__(
        self, width: int = 32, feature_dim: int = 64, num_classes: int = 10, resolution: int = NATIVE_RESOLUTION
    ):
        super().__init__()
        self.resolution = resolution
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * (resolution // 2) ** 2, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def _resample(self, x: Tensor) -> Tensor:
        if x.shape[-2:] == (self.resolution, self.resolution):
            return x
        mode = "area" if x.shape[-1] > self.resolution else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        return F.interpolate(x, size=(self.resolution, self.resolution), mode=mode, **kwargs)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``[n, feature_dim]`` (used for the Frechet distance)."""
        h = F.silu(self.conv1(self._resample(x)))
        h = F.silu(self.conv2(h))
        h = F.avg_pool2d(h, 2)
        h = F.silu(self.conv3(h))
        return F.silu(self.fc(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random +-1 pixel shifts (background padded) and a little Gaussian pixel noise."""
    n = x.shape[0]
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dx = torch.randint(0, 3, (n,), generator=generator)
    dy = torch.randint(0, 3, (n,), generator=generator)
    h, w = x.shape[-2:]
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    sigma = 0.1 * torch.rand(n, 1, 1, 1, generator=generator)
    return (out + sigma * torch.randn(out.shape, generator=generator)).clamp(-1.0, 1.0)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    return float((model(x).argmax(-1) == y).float().mean())


def train_classifier(
    out_path: str | os.PathLike | None = None,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    split_seed: int = 0,
    heldout_fraction: float = 0.2,
    verbose: bool = False,
) -> tuple[DigitClassifier, dict]:
    """Train :class:`DigitClassifier` on the digits train split; return (model, metrics).

    Deterministic for a given seed on one thread. If ``out_path`` is given the ``state_dict`` is
    saved there. ``metrics`` holds ``heldout_accuracy``, ``train_accuracy``, ``wall_time_s``.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    split = load_digits_split(NATIVE_RESOLUTION, heldout_fraction, split_seed)
    x, y = split.train_images, split.train_labels
    model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model(_augment(x[idx], gen)), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if verbose and (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: held-out acc {accuracy(model, split.heldout_images, split.heldout_labels):.4f}")
    model.eval()
    metrics = {
        "heldout_accuracy": accuracy(model, split.heldout_images, split.heldout_labels),
        "train_accuracy": accuracy(model, x, y),
        "num_train": int(len(x)),
        "num_heldout": int(len(split.heldout_images)),
        "wall_time_s": time.perf_counter() - start,
    }
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out_path)
    return model, metrics


def load_classifier(checkpoint: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> DigitClassifier:
    """The committed (or given) classifier weights in eval mode, parameters frozen."""
    path = Path(checkpoint) if checkpoint is not None else default_classifier_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"digit classifier checkpoint not found at {path}; train one with "
            "svdd_ray.images.classifier.train_classifier(out_path) or pass checkpoint=..."
        )
    model = DigitClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model

"""Figures of digit images: tiled grids (Pillow) and the matplotlib figures of reports and the digits results."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def image_grid(images: list[np.ndarray], rows: int, cols: int, scale: int = 4, pad: int = 1) -> np.ndarray:
    """Tile uint8 ``[H, W]`` images into one uint8 array (each pixel ``scale`` x ``scale``, gray padding)."""
    h, w = images[0].shape
    cell_h, cell_w = h * scale + pad, w * scale + pad
    grid = np.full((rows * cell_h + pad, cols * cell_w + pad), 128, dtype=np.uint8)
    for k, im in enumerate(images[: rows * cols]):
        r, c = divmod(k, cols)
        big = np.kron(im, np.ones((scale, scale), dtype=np.uint8))
        grid[pad + r * cell_h : pad + r * cell_h + h * scale, pad + c * cell_w : pad + c * cell_w + w * scale] = big
    return grid


def save_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a uint8 array as a PNG file."""
    from PIL import Image

    Image.fromarray(array).save(path, format="PNG", optimize=True)


def comparison_figure(
    panels: list[tuple[str, list[np.ndarray]]], rows: int = 8, cols: int = 8, scale: int = 4
) -> np.ndarray:
    """Side-by-side labelled grids (uint8 array), one panel per ``(title, images)``."""
    from PIL import Image, ImageDraw

    grids = [image_grid(images, rows, cols, scale) for _, images in panels]
    title_h, gap = 14, 8
    height = title_h + max(g.shape[0] for g in grids)
    width = sum(g.shape[1] for g in grids) + gap * (len(grids) - 1)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (title, _), g in zip(panels, grids):
        draw.text((x + 2, 1), title, fill=0)
        canvas.paste(Image.fromarray(g), (x, title_h))
        x += g.shape[1] + gap
    return np.asarray(canvas)


def labelled_tiles(images: Sequence[np.ndarray], labels: Sequence[str], path: Path, cols: int = 8) -> Path:
    """Images in rows of ``cols``, each titled with its label (a report's sample grid)."""
    from svdd_ray.report import pyplot, save_figure

    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels):
        ax.imshow(image, cmap="gray")
        ax.set_title(label, fontsize=7)
    return save_figure(fig, path)


def best_samples_figure(
    rows: list[tuple[str, list[np.ndarray], np.ndarray]], title: str, path: Path, k: int = 8
) -> Path:
    """One row per ``(label, images, rewards)``: its k best distinct samples with their rewards."""
    from svdd_ray.report import pyplot, save_figure

    fig, axes = pyplot().subplots(len(rows), k, figsize=(1.0 * k + 1.2, 1.15 * len(rows) + 0.4), squeeze=False)
    for r, (label, images, rewards) in enumerate(rows):
        seen, picked = set(), []
        for i in np.argsort(-np.nan_to_num(rewards, nan=-np.inf)):
            key = images[i].tobytes()
            if key not in seen:
                seen.add(key)
                picked.append(i)
            if len(picked) == k:
                break
        for c in range(k):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(picked):
                ax.imshow(images[picked[c]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{rewards[picked[c]]:.3g}", fontsize=7, pad=2)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


def naturalness_figure(
    quality: dict,
    floors: dict,
    path: Path,
    titles: dict[str, str],
    labels: dict[str, str],
    target_rewards: Collection[str],
    target: int = 3,
) -> Path:
    """Per reward: classifier max-probability and Frechet distances per method, real-digit floors dashed.

    ``quality[reward][method]`` and ``floors`` hold :class:`svdd_ray.images.metrics.Naturalness` results;
    the third panel (Frechet to the held-out ``target`` digits) is drawn for ``target_rewards`` only.
    """
    from svdd_ray.report import pyplot, save_figure

    rewards = list(quality)
    panels = [
        ("mean_max_prob", "classifier max-probability", "real", "real digits"),
        ("frechet", "Frechet vs held-out digits", "real", "real digits"),
        ("frechet_target", f"Frechet vs held-out {target}s", "real_target", f"real {target}s"),
    ]
    fig, axes = pyplot().subplots(len(rewards), 3, figsize=(14, 3.2 * len(rewards)), squeeze=False)
    for r, reward in enumerate(rewards):
        methods = list(quality[reward])
        names = [labels[m] for m in methods]
        for c, (key, name, floor, floor_label) in enumerate(panels):
            ax = axes[r, c]
            if key == "frechet_target" and reward not in target_rewards:
                ax.axis("off")
                continue
            vals = [quality[reward][m][key] for m in methods]
            ax.bar(names, vals, color="tab:blue")
            ax.axhline(floors[floor][key], color="k", linestyle="--", linewidth=1, label=floor_label)
            for i, v in enumerate(vals):
                ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
            ax.set_title(f"{titles[reward]}: {name}", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
            if key == "mean_max_prob":
                ax.set_ylim(0, 1.05)
            ax.legend(fontsize=7, loc="lower right" if key == "mean_max_prob" else "upper left")
    return save_figure(fig, path, dpi=110)


def curve_figure(curve: pd.DataFrame, path: Path, titles: dict[str, str]) -> Path:
    """SVDD-PM median / p90 reward against M, with each point's wall time on a second axis.

    ``curve`` has columns reward, M, median, p90, wall_s and pretrained_median.
    """
    from svdd_ray.report import pyplot, save_figure

    rewards = list(curve["reward"].unique())
    fig, axes = pyplot().subplots(1, len(rewards), figsize=(5.5 * len(rewards), 4), squeeze=False)
    for ax, reward in zip(axes[0], rewards):
        part = curve[curve["reward"] == reward].sort_values("M")
        ax.plot(part["M"], part["median"], marker="o", label="median")
        ax.plot(part["M"], part["p90"], marker="^", linestyle="--", label="p90")
        ax.axhline(part["pretrained_median"].iloc[0], color="gray", linestyle=":", label="pre-trained median")
        ax.set_xscale("log", base=2)
        if part["median"].max() - part["median"].min() > 100 * abs(part["median"].max()):
            ax.set_yscale("symlog", linthresh=1e-3)  # log-probabilities saturating at 0
            ax.set_ylim(top=0.0)
        ax.set_xlabel("M (candidates per step)")
        ax.set_ylabel("reward")
        ax.set_title(f"SVDD-PM, {titles[reward]}", fontsize=9)
        twin = ax.twinx()
        twin.bar(part["M"], part["wall_s"], width=part["M"] * 0.35, alpha=0.25, color="tab:red")
        twin.set_ylabel("wall time (s)", color="tab:red")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, dpi=110)

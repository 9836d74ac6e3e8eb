"""The digits prior through the engine: configs, SVDD-PM, DPS from a guide factory, SVDD-MC, PNG output."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from svdd_ray import engine
from svdd_ray.config import load_config
from svdd_ray.images.classifier import default_checkpoint_dir

REPO = Path(__file__).resolve().parents[2]
COMPRESS = REPO / "configs" / "digits_compressibility.yaml"
CLASSIFIER = REPO / "configs" / "digits_classifier.yaml"
STEPS = 4

pytestmark = pytest.mark.skipif(
    not all((default_checkpoint_dir() / f).is_file() for f in ("prior.pt", "config.yaml", "classifier.pt")),
    reason="no committed digits checkpoints",
)


def small(path: Path, out: Path, *overrides: str):
    """A digits config shrunk to a few samples and steps, on the local backend."""
    return load_config(
        path,
        [
            "run.num_samples=4",
            "run.batch_size=2",
            "run.num_candidates=2",
            f"run.output_dir={out}",
            f"model.options={{num_steps: {STEPS}}}",
            "resources.backend=local",
            *overrides,
        ],
    )


def decoded(out: Path) -> tuple[pd.DataFrame, list[np.ndarray]]:
    from PIL import Image

    frame = pd.read_parquet(out).sort_values("index").reset_index(drop=True)
    images = [np.asarray(Image.open(io.BytesIO(cell))) for cell in frame["object"]]
    return frame, images


def check_images(frame: pd.DataFrame, images: list[np.ndarray], n: int = 4) -> None:
    assert len(frame) == n and frame["index"].tolist() == list(range(n))
    assert all(isinstance(cell, bytes) and cell.startswith(b"\x89PNG") for cell in frame["object"])
    assert all(im.shape == (8, 8) and im.dtype == np.uint8 for im in images)
    assert not frame["invalid"].any()


@pytest.mark.parametrize("path", [COMPRESS, CLASSIFIER])
def test_committed_digits_configs_resolve(path):
    config = load_config(path)
    engine.check_plugins(config)
    assert config.model.target == "digits" and config.resources.backend == "ray"
    res = config.resources
    cpus = res.denoiser_actors * res.denoiser_num_cpus + sum(c.actors * c.num_cpus for c in config.reward.components)
    assert cpus <= 2  # fits the 2-CPU machine


def test_svdd_pm_compressibility_rewards_match_the_decoded_pngs(tmp_path):
    from svdd_ray.images import compressibility

    _, totals = engine.run(small(COMPRESS, tmp_path / "run"))
    frame, images = decoded(tmp_path / "run")
    check_images(frame, images)
    assert frame["reward"].tolist() == compressibility(images)
    assert frame["reward"].tolist() == frame["reward_compressibility"].tolist()
    assert (frame["value_calls"] == 2 * 2 * STEPS).all() and totals["samples"] == 4


def test_dps_from_the_guide_factory_scores_digit_rewards(tmp_path):
    from svdd_ray.images import DigitReward

    config = small(
        CLASSIFIER,
        tmp_path / "run",
        "run.method=dps",
        "run.num_candidates=1",
        "value.guide={target: svdd_ray.images.rewards:digit_guide, options: {target: 3}}",
        "run.options={guidance_scale: 0.3}",
    )
    engine.run(config)
    frame, images = decoded(tmp_path / "run")
    check_images(frame, images)
    np.testing.assert_allclose(frame["reward"], DigitReward(target=3)(images), rtol=0, atol=1e-5)
    assert (frame["reward"] <= 0).all()


def test_digit_guide_factory_is_differentiable():
    from svdd_ray.images import load_prior
    from svdd_ray.images.rewards import DigitGuide, digit_guide

    model = load_prior(num_steps=STEPS)
    guide = digit_guide(model, target=7)
    assert isinstance(guide, DigitGuide) and guide.reward.target == 7
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(guide(x, 1).sum(), x)  # near t = T the clipped x0_hat has no gradient
    assert grad.shape == x.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_svdd_mc_with_a_value_network_checkpoint(tmp_path):
    from svdd_ray.images import DigitReward
    from svdd_ray.images.value_net import DigitsValueNet
    from svdd_ray.values import ValueNetwork, save_value_network

    torch.manual_seed(0)
    net = DigitsValueNet(width=8, emb_dim=16, hidden=16)
    net.set_target_stats(-2.0, 1.5)
    checkpoint = tmp_path / "value.pt"
    save_value_network(ValueNetwork(net, STEPS), checkpoint)
    config = small(
        CLASSIFIER,
        tmp_path / "run",
        "value.kind=mc",
        "value.network={target: digits, options: {width: 8, emb_dim: 16, hidden: 16}}",
        f"value.checkpoint={checkpoint}",
    )
    engine.run(config)
    frame, images = decoded(tmp_path / "run")
    check_images(frame, images)
    np.testing.assert_allclose(frame["reward"], DigitReward(target=3)(images), rtol=0, atol=1e-5)
    # The value network answers every step but the last; only the final candidates reach the reward.
    assert (frame["reward_calls"] <= 2 * 2).all() and (frame["value_calls"] == 2 * 2 * STEPS).all()


def test_train_value_job_reports_heldout_error(tmp_path, capsys, load_job):
    job = load_job("train_value")
    out, metrics = tmp_path / "v.pt", tmp_path / "v.json"
    argv = ["--config", str(COMPRESS), "--out", str(out), "--network", "svdd_ray.images.value_net:DigitsValueNet"]
    argv += ["--network-options", '{"width": 8, "emb_dim": 16, "hidden": 16}', "--rollouts", "8"]
    argv += [
        "--heldout-rollouts",
        "4",
        "--epochs",
        "1",
        "--metrics",
        str(metrics),
        f"model.options={{num_steps: {STEPS}}}",
    ]
    assert job.main(argv) == 0
    assert out.is_file() and "held-out regression error" in capsys.readouterr().out
    import json

    report = json.loads(metrics.read_text())["heldout"]["all"]
    assert report["states"] == 4 * STEPS and math.isfinite(report["mse_net"]) and report["mse_mean"] > 0


def test_train_value_job_subsamples_states_and_reuses_cached_rollouts(tmp_path, capsys, load_job):
    job = load_job("train_value")
    cache = tmp_path / "rollouts"
    argv = [
        "--config",
        str(COMPRESS),
        "--network",
        "svdd_ray.images.value_net:DigitsValueNet",
        "--network-options",
        '{"width": 8, "emb_dim": 16, "hidden": 16}',
        "--rollouts",
        "6",
        "--states-per-rollout",
        "2",
        "--heldout-rollouts",
        "2",
        "--val-rollouts",
        "2",
        "--epochs",
        "1",
        "--rollouts-cache",
        str(cache),
        f"model.options={{num_steps: {STEPS}}}",
    ]
    assert job.main([*argv, "--out", str(tmp_path / "a.pt")]) == 0
    assert "(12 training states)" in capsys.readouterr().out
    saved = sorted(p.name for p in cache.iterdir())
    assert saved == ["rollouts-0-6-2.pt", "rollouts-1-2-None.pt", "rollouts-2-2-None.pt"]
    job.collect_rollouts = None  # a second run must load every set from the cache
    assert job.main([*argv, "--out", str(tmp_path / "b.pt")]) == 0
    a, b = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)

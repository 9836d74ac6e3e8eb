"""Rewards on known images, with the committed classifier weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from svdd_ray.images.classifier import accuracy, default_classifier_path, load_classifier
from svdd_ray.images.data import load_digits_split, to_uint8_images
from svdd_ray.images.rewards import DigitReward, compressibility, jpeg_size

pytestmark = pytest.mark.skipif(not default_classifier_path().is_file(), reason="no committed classifier.pt")


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.fixture(scope="module")
def reward3():
    return DigitReward(target=3)


def test_blank_compresses_better_than_noise():
    rng = np.random.default_rng(0)
    blank = np.zeros((8, 8), np.uint8)
    noise = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    big_blank, big_noise = np.zeros((64, 64), np.uint8), rng.integers(0, 256, (64, 64), dtype=np.uint8)
    r = compressibility([blank, noise, big_blank, big_noise])
    assert all(v < 0 for v in r)
    assert r[0] > r[1] and r[2] > r[3]
    assert r[0] == -float(jpeg_size(blank))  # bytes, negated


def test_compressibility_invalid_is_nan_and_floats_are_rounded():
    good = np.full((8, 8), 7, np.uint8)
    bad_nan = np.full((8, 8), np.nan)
    r = compressibility([good, bad_nan, np.zeros((2, 2, 2)), "not an image", np.zeros(0), good.astype(np.float64)])
    assert math.isfinite(r[0]) and r[5] == r[0]
    assert all(math.isnan(v) for v in r[1:5])


def test_classifier_heldout_accuracy_above_0_9(split):
    clf = load_classifier()
    acc = accuracy(clf, split.heldout_images, split.heldout_labels)
    assert acc > 0.9


def test_digit_reward_prefers_target(split, reward3):
    imgs = to_uint8_images(split.heldout_images)
    labels = split.heldout_labels
    r = np.array(reward3(imgs))
    assert r.shape == (len(imgs),) and np.all(r <= 0)
    assert r[labels.numpy() == 3].mean() > -0.5
    assert r[labels.numpy() != 3].mean() < -3.0
    assert repr(reward3) == "DigitReward(target=3, device='cpu')"


def test_digit_reward_invalid_inputs_give_nan(split, reward3):
    good = to_uint8_images(split.heldout_images[:1])[0]
    nan_img = np.full((8, 8), np.nan)
    out = reward3([good, nan_img, np.zeros((16, 16), np.uint8), np.zeros((8,), np.uint8), None, good])
    assert math.isfinite(out[0]) and out[5] == pytest.approx(out[0])
    assert all(math.isnan(v) for v in out[1:5])
    assert reward3([]) == []


def test_log_prob_tensor_matches_list_form_and_has_gradients(split, reward3):
    imgs = to_uint8_images(split.heldout_images[:6])
    x = torch.from_numpy(np.stack(imgs).astype(np.float32)).unsqueeze(1) / 127.5 - 1.0
    x.requires_grad_(True)
    lp = reward3.log_prob_tensor(x)
    assert lp.shape == (6,)
    np.testing.assert_allclose(lp.detach().numpy(), reward3(imgs), rtol=1e-5, atol=1e-5)
    lp.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in reward3.classifier.parameters())
    with pytest.raises(ValueError):
        reward3.log_prob_tensor(torch.zeros(2, 8, 8))


def test_invalid_target_and_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError):
        DigitReward(target=10)
    with pytest.raises(FileNotFoundError):
        DigitReward(target=1, checkpoint=tmp_path / "missing.pt")

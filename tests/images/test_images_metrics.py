"""Frechet distance, baselines and the quality summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdd_ray.images.classifier import DigitClassifier
from svdd_ray.images.metrics import (
    Naturalness,
    distinct_images,
    frechet_distance,
    gaussian_noise_baseline,
    marginal_baseline,
    nearest_neighbour_l2,
    sample_quality,
)


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # a shift adds |shift|^2; scaling by 2 gives |mu|^2 + tr(S + 4S - 2 * 2S) = |mu|^2 + tr(S)
    b = a + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0, rel=1e-6)
    c = 2.0 * a
    expected = np.trace(np.cov(a, rowvar=False)) + (a.mean(0) ** 2).sum()
    assert frechet_distance(a, c) == pytest.approx(expected, rel=1e-4)


def test_baselines_shapes_and_ranges():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 8, 8) * 2 - 1
    noise = gaussian_noise_baseline(7, (1, 8, 8), g)
    marg = marginal_baseline(train, 7, g)
    assert noise.shape == marg.shape == (7, 1, 8, 8)
    assert float(noise.abs().max()) <= 1.0
    # each pixel of the marginal baseline is a value that pixel takes in the training set
    flat_train, flat = train.flatten(1), marg.flatten(1)
    assert all(bool((flat_train[:, j] == flat[0, j]).any()) for j in range(64))


def test_nearest_neighbour_and_sample_quality_keys():
    torch.manual_seed(0)
    ref = torch.rand(20, 1, 8, 8) * 2 - 1
    assert np.allclose(nearest_neighbour_l2(ref, ref), 0.0)
    q = sample_quality(ref, DigitClassifier().eval(), ref, train=ref)
    assert set(q) == {"n", "mean_max_prob", "frechet", "class_entropy", "nn_train_l2", "nn_train_l2_min"}
    assert q["frechet"] == pytest.approx(0.0, abs=1e-6) and 0.1 <= q["mean_max_prob"] <= 1.0


def test_distinct_images_compares_bytes():
    a, b = np.zeros((8, 8), np.uint8), np.ones((8, 8), np.uint8)
    assert distinct_images([a, b, a.copy(), b.T]) == 2 and distinct_images([]) == 0


def test_naturalness_adds_the_target_class_and_real_digit_floors():
    nat = Naturalness(target=3)  # the committed classifier
    q = nat(nat.heldout_target[:10])
    assert set(q) == {"n", "mean_max_prob", "frechet", "class_entropy", "frechet_target"} and q["n"] == 10
    floors = nat.floors(20)
    assert floors["real"]["n"] == 20 and floors["real_target"]["n"] == len(nat.train_target)
    assert floors["real_target"]["frechet_target"] < floors["real"]["frechet_target"]

"""The digits data: shapes, ranges, the fixed split and the uint8 decode convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdd_ray.images.data import (
    from_uint8_images,
    load_digits_split,
    load_digits_tensors,
    split_indices,
    to_uint8_images,
)


def test_all_digits_shape_and_range():
    x, y = load_digits_tensors()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert y.shape == (1797,) and set(y.tolist()) == set(range(10))


def test_upsampled_option():
    x, _ = load_digits_tensors(resolution=16)
    assert x.shape == (1797, 1, 16, 16)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def test_split_is_fixed_disjoint_and_complete():
    a, b = load_digits_split(seed=0), load_digits_split(seed=0)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.heldout_labels, b.heldout_labels)
    assert len(a.train_images) == 1438 and len(a.heldout_images) == 359 and a.resolution == 8
    tr, ho = split_indices(1797, 0.2, 0)
    assert len(set(tr) & set(ho)) == 0 and len(tr) + len(ho) == 1797
    tr1, _ = split_indices(1797, 0.2, 1)
    assert not np.array_equal(tr, tr1)
    with pytest.raises(ValueError):
        split_indices(10, 1.5)


def test_uint8_round_trip():
    x, _ = load_digits_tensors()
    imgs = to_uint8_images(x[:5])
    assert len(imgs) == 5 and all(im.dtype == np.uint8 and im.shape == (8, 8) for im in imgs)
    back = from_uint8_images(imgs)
    assert back.shape == (5, 1, 8, 8)
    assert float((back - x[:5]).abs().max()) <= 1.0 / 127.5 + 1e-6


def test_to_uint8_clamps_and_handles_nan():
    x = torch.tensor([[-3.0, -1.0], [1.0, float("nan")]]).view(1, 1, 2, 2)
    (im,) = to_uint8_images(x)
    assert im.tolist() == [[0, 0], [255, 0]]
    (im3,) = to_uint8_images(torch.zeros(1, 2, 2))
    assert im3.tolist() == [[128, 128], [128, 128]]
    with pytest.raises(ValueError):
        to_uint8_images(torch.zeros(1, 3, 2, 2))

"""CrossNet (DCN) and CrossNetV2 (DCN-V2) against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.cross import CrossNet, CrossNetV2
from layers.layer_helpers import randomize, tree_kernels


# -- cross networks --------------------------------------------------------------------------
def test_cross_net_matches_numpy():
    x0 = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    cross = CrossNet(6, num_layers=3)
    randomize(cross)
    x = x0
    for projection, bias in zip(cross.projections, cross.biases):
        w, b = projection.kernel.numpy(), bias.numpy()
        x = x0 * (x @ w) + b + x  # x0 * (x_l . w_l) + b_l + x_l
    np.testing.assert_allclose(cross(tf.constant(x0)).numpy(), x, rtol=1e-5, atol=1e-5)
    assert [k.shape for k in tree_kernels(cross)] == [(6, 1)] * 3


@pytest.mark.parametrize("low_rank", [0, 2])
def test_cross_net_v2_matches_numpy(low_rank):
    x0 = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32)
    cross = CrossNetV2(6, num_layers=2, low_rank=low_rank)
    randomize(cross)
    x = x0
    for layer in cross.layers:
        if low_rank:
            affine = x @ layer.down.kernel.numpy() @ layer.up.kernel.numpy() + layer.up.bias.numpy()
        else:
            affine = x @ layer.kernel.numpy() + layer.bias.numpy()
        x = x0 * affine + x  # x0 * (W x_l + b) + x_l
    np.testing.assert_allclose(cross(tf.constant(x0)).numpy(), x, rtol=1e-5, atol=1e-5)
    expected = [(6, 2), (2, 6)] * 2 if low_rank else [(6, 6)] * 2
    assert [tuple(k.shape) for k in tree_kernels(cross)] == expected

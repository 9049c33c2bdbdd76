"""CrossNet (DCN), CrossNetV2 / Cross / CrossStack (DCN-V2) against numpy and hand-computed
values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.cross import Cross, CrossNet, CrossNetV2, CrossStack
from layers.layer_helpers import randomize, tree_kernels


# -- cross networks --------------------------------------------------------------------------
def test_cross_net_matches_numpy():
    x0 = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    cross = CrossNet(6, num_layers=3)
    randomize(cross)
    x = x0
    for weight, bias in zip(cross.weights, cross.biases):
        w, b = weight.numpy(), bias.numpy()
        x = x0 * (x @ w)[:, None] + b + x  # x0 * (x_l . w_l) + b_l + x_l
    np.testing.assert_allclose(cross(tf.constant(x0)).numpy(), x, rtol=1e-5, atol=1e-5)
    assert tree_kernels(cross) == []  # EasyRec does not L2-regularise the cross vectors


def test_cross_net_hand_computed():
    cross = CrossNet(2, num_layers=1)
    cross.weights[0].assign([1.0, 2.0])
    cross.biases[0].assign([0.5, -0.5])
    # x0 = [1, 3]: x0 . w = 7, so x1 = [1, 3] * 7 + [0.5, -0.5] + [1, 3] = [8.5, 23.5]
    np.testing.assert_allclose(cross(tf.constant([[1.0, 3.0]])).numpy(), [[8.5, 23.5]])


def test_cross_net_starts_glorot_uniform():
    tf.random.set_seed(0)
    cross = CrossNet(300, num_layers=1)
    for values in (cross.weights[0].numpy(), cross.biases[0].numpy()):
        limit = (6 / 600) ** 0.5  # EasyRec: tf.get_variable's Glorot-uniform, fan_in = fan_out
        assert np.abs(values).max() <= limit and values.std() > 0.5 * limit


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


def test_cross_component_is_one_dcn_v2_layer_on_x0_and_x():
    params = struct_params({"diag_scale": 0.5, "kernel_initializer": "zeros"})
    cross = Cross.from_params(params, [tf.TensorShape([None, 2])] * 2, "cross")
    cross.dense.kernel.assign([[1.0, 0.0], [0.0, 2.0]])
    cross.dense.bias.assign([1.0, 0.0])
    x0, x = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, 1.0]])
    # W x + b + 0.5 x = [3 + 1 + 1.5, 2 + 0 + 0.5] = [5.5, 2.5]; x0 * that + x = [8.5, 6]
    np.testing.assert_allclose(cross([x0, x]).numpy(), [[8.5, 6.0]])
    low_rank = Cross.from_params(struct_params({"projection_dim": 1}), tf.TensorShape([None, 2]),
                                 "cross")
    assert low_rank.down.kernel.shape == (2, 1) and low_rank(x).shape == (1, 2)


def test_cross_stack_keeps_x0_fixed_hand_computed():
    stack = CrossStack(2, num_layers=2, diag_scale=1.0, preactivation="relu")
    for layer, kernel, bias in zip(stack.layers, ([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]),
                                   ([0.0, -5.0], [1.0, 0.0])):
        layer.dense.kernel.assign(kernel)
        layer.dense.bias.assign(bias)
    # x0 = [1, 2]. Layer 1: relu(I x0 + [0, -5]) = [1, 0]; + 1.0 * x0 = [2, 2];
    #   x1 = x0 * [2, 2] + x0 = [3, 6].
    # Layer 2: relu(swap(x1) + [1, 0]) = [7, 3]; + x1 = [10, 9]; x2 = x0 * [10, 9] + x1 = [13, 24]
    np.testing.assert_allclose(stack(tf.constant([[1.0, 2.0]])).numpy(), [[13.0, 24.0]])
    low_rank = CrossStack(4, num_layers=3, projection_dim=2, use_bias=False)
    assert sorted(tuple(k.shape) for k in tree_kernels(low_rank)) == [(2, 4)] * 3 + [(4, 2)] * 3
    assert all(layer.dense.bias is None for layer in low_rank.layers)

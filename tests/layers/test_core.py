"""Dense, BatchNorm and MLP with weights assigned by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.core import MLP, BatchNorm, Dense, get_activation
from layers.layer_helpers import tree_kernels


def test_dense_is_x_w_plus_b_and_declares_its_kernel():
    layer = Dense(2, 2)
    layer.kernel.assign([[1.0, 2.0], [3.0, 4.0]])
    layer.bias.assign([0.5, -1.0])
    # [1, 1] W = [4, 6]; + b = [4.5, 5]
    assert layer(tf.constant([[1.0, 1.0]])).numpy().tolist() == [[4.5, 5.0]]
    assert layer.own_kernels() == [layer.kernel]
    assert Dense(2, 3, use_bias=False).bias is None


def test_batch_norm_normalises_over_the_batch_and_debiases_moving_statistics():
    bn = BatchNorm(1, momentum=0.5, epsilon=0.0)
    x = tf.constant([[1.0], [3.0]])  # mean 2, variance 1
    np.testing.assert_allclose(bn(x, training=True).numpy(), [[-1.0], [1.0]], atol=1e-6)
    # after one step: moving = 0.5 * stat; debiased by 1 - 0.5 = 0.5 -> the batch statistics
    mean, variance = bn.inference_statistics()
    assert float(mean[0]) == pytest.approx(2.0) and float(variance[0]) == pytest.approx(1.0)
    np.testing.assert_allclose(bn(tf.constant([[4.0]]), training=False).numpy(), [[2.0]])
    assert bn.own_kernels() == []


def test_mlp_without_batch_norm_is_relu_of_affine_layers():
    mlp = MLP(2, [2, 1], activation="relu", use_bn=False)
    first, second = mlp.dense_layers
    first.kernel.assign([[1.0, -1.0], [2.0, 1.0]])
    first.bias.assign([0.0, 0.5])
    second.kernel.assign([[1.0], [3.0]])
    second.bias.assign([-1.0])
    # x = [1, 1]: h1 = relu([3, 0.5]) = [3, 0.5]; h2 = relu(3 + 1.5 - 1) = 3.5
    assert mlp(tf.constant([[1.0, 1.0]]), training=False).numpy().tolist() == [[3.5]]
    # x = [1, -1]: h1 = relu([-1, -1.5]) = [0, 0]; h2 = relu(-1) = 0
    assert mlp(tf.constant([[1.0, -1.0]]), training=False).numpy().tolist() == [[0.0]]
    assert [k.shape for k in tree_kernels(mlp)] == [(2, 2), (2, 1)]
    assert mlp.own_kernels() == []


def test_mlp_with_batch_norm_has_no_dense_bias_and_dropout_only_in_training():
    mlp = MLP(3, [4, 4], use_bn=True, dropout_ratio=[0.5])
    assert all(d.bias is None for d in mlp.dense_layers) and len(mlp.bn_layers) == 2
    x = tf.ones([8, 3])
    np.testing.assert_allclose(mlp(x, training=False).numpy(), mlp(x, training=False).numpy())
    with pytest.raises(ValueError, match="dropout_ratio has 3 values for 2 layers"):
        MLP(3, [4, 4], dropout_ratio=[0.1, 0.2, 0.3])


def test_activation_names_accept_easy_rec_spellings():
    assert get_activation("tf.nn.relu") is get_activation("relu")
    assert float(get_activation("linear")(tf.constant(-2.0))) == -2.0
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("tf.nn.nope")

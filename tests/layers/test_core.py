"""Dense, BatchNorm and MLP with weights assigned by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import Params, struct_params
from easy_rec.layers.core import (
    MLP,
    BatchNorm,
    Dense,
    Dice,
    get_activation,
    initial_kernel,
    mlp_params,
)
from easy_rec.protos import dnn_pb2
from layers.layer_helpers import tree_kernels


def test_dense_is_x_w_plus_b_and_declares_its_kernel():
    layer = Dense(2, 2)
    layer.kernel.assign([[1.0, 2.0], [3.0, 4.0]])
    layer.bias.assign([0.5, -1.0])
    # [1, 1] W = [4, 6]; + b = [4.5, 5]
    assert layer(tf.constant([[1.0, 1.0]])).numpy().tolist() == [[4.5, 5.0]]
    assert layer.own_kernels() == [layer.kernel]
    assert Dense(2, 3, use_bias=False).bias is None


def test_batch_norm_normalises_over_the_batch_and_infers_with_tf_moving_statistics():
    bn = BatchNorm(1, momentum=0.5, epsilon=0.0)
    # before any step inference uses mean 0, variance 1 (TF's start values)
    np.testing.assert_allclose(bn(tf.constant([[4.0]]), training=False).numpy(), [[4.0]])
    x = tf.constant([[1.0], [3.0]])  # mean 2, variance 1
    np.testing.assert_allclose(bn(x, training=True).numpy(), [[-1.0], [1.0]], atol=1e-6)
    # after one step: mean 0.5 * 0 + 0.5 * 2 = 1, variance 0.5 * 1 + 0.5 * 1 = 1 (no debiasing)
    assert bn.moving_mean.numpy().tolist() == [1.0]
    assert bn.moving_variance.numpy().tolist() == [1.0]
    np.testing.assert_allclose(bn(tf.constant([[4.0]]), training=False).numpy(), [[3.0]])
    x = tf.constant([[0.0], [0.2]])  # mean 0.1, variance 0.01
    bn(x, training=True)
    # mean 0.5 * 1 + 0.5 * 0.1 = 0.55; variance 0.5 * 1 + 0.5 * 0.01 = 0.505: the start value 1
    # still weighs momentum^2 = 0.25 in it
    np.testing.assert_allclose(bn.moving_mean.numpy(), [0.55], rtol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), [0.505], rtol=1e-6)
    np.testing.assert_allclose(bn(tf.constant([[1.56]]), training=False).numpy(),
                               [[(1.56 - 0.55) / 0.505 ** 0.5]], rtol=1e-5)
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


def test_dense_component_takes_keras_parameters():
    params = struct_params({"units": 2, "activation": "relu", "use_bias": False,
                            "kernel_initializer": "ones"})
    dense = Dense.from_params(params, tf.TensorShape([None, 3]), "dense")
    assert dense.bias is None
    # relu([1, -2, 0] @ ones) = relu(-1) = 0; [2, 2, 2] @ ones = 6
    np.testing.assert_allclose(dense(tf.constant([[1.0, -2.0, 0.0], [2.0, 2.0, 2.0]])).numpy(),
                               [[0.0, 0.0], [6.0, 6.0]])


def test_initializers_have_keras_ranges():
    he = initial_kernel("he_uniform", [50, 40]).numpy()
    assert np.abs(he).max() <= (6.0 / 50) ** 0.5 and np.abs(he).max() > 0.8 * (6.0 / 50) ** 0.5
    assert not initial_kernel("zeros", [3, 2]).numpy().any()
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'"):
        initial_kernel("orthogonal", [2, 2])


def test_mlp_component_last_layer_options():
    params = Params(dnn_pb2.MLP(hidden_units=[3, 2], use_final_bn=False,
                                final_activation="linear", dropout_ratio=[0.5]), "mlp")
    kwargs = mlp_params(params)
    assert kwargs["dropout_ratio"] == [0.5, 0.0]  # EasyRec: missing rates are 0
    mlp = MLP(4, **kwargs)
    assert mlp.bn_layers[0] is not None and mlp.bn_layers[1] is None
    assert mlp.dense_layers[0].bias is None and mlp.dense_layers[1].bias is None  # use_bias false
    mlp.dense_layers[1].kernel.assign(-tf.ones([3, 2]))
    out = mlp(tf.ones([2, 4]), training=False).numpy()
    assert (out <= 0).all()  # relu, then a linear last layer with negative weights


def test_mlp_batch_norm_after_activation_and_dice():
    mlp = MLP(2, [2], use_bn_after_activation=True, activation="relu", use_final_bn=True)
    mlp.dense_layers[0].kernel.assign(tf.eye(2))
    # inference BN before training: (x - 0) / sqrt(1 + eps); after relu
    out = mlp(tf.constant([[-1.0, 2.0]]), training=False).numpy()
    np.testing.assert_allclose(out, [[0.0, 2.0 / (1.001 ** 0.5)]], rtol=1e-5)
    dice = Dice(1)
    # alpha 0 and untrained BN (mean 0, var 1): f(x) = sigmoid(x / sqrt(1 + 1e-9)) x
    x = tf.constant([[1.5]])
    np.testing.assert_allclose(dice(x, training=False).numpy(), [[1.5 / (1 + np.exp(-1.5))]],
                               rtol=1e-5)
    assert MLP(2, [2], activation="dice").dice_layers[0] is not None


def test_batch_norm_of_sequences_normalises_each_unit_over_batch_and_time():
    bn = BatchNorm(1, epsilon=0.0)
    x = tf.constant([[[1.0], [3.0]], [[1.0], [3.0]]])  # mean 2, variance 1 over 4 values
    np.testing.assert_allclose(bn(x, training=True).numpy()[0], [[-1.0], [1.0]], atol=1e-6)

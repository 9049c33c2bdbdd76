"""PeriodicEmbedding, AutoDisEmbedding and NaryDisEmbedding against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.autodis_embedding import AutoDisEmbedding
from easy_rec.layers.component import struct_params
from easy_rec.layers.narydis_embedding import NaryDisEmbedding, num_positions
from easy_rec.layers.periodic_embedding import PeriodicEmbedding
from easy_rec.layers.registry import get_layer_class


# -- PeriodicEmbedding -----------------------------------------------------------------------
def test_periodic_is_sin_cos_of_scaled_value_then_a_per_feature_linear_map():
    layer = PeriodicEmbedding(2, 2, sigma=1.0, output_3d_tensor=True)
    layer.coefficients.assign([[1.0], [0.5]])
    layer.linear_weights.assign([np.eye(2), 2 * np.eye(2)])
    layer.linear_bias.assign([[0.5, -1.0], [0.0, 0.0]])
    # feature 0, x = 0.25: angle pi / 2 -> [1, 0]; relu([1.5, -1]) = [1.5, 0]
    # feature 1, x = 1: angle pi -> [0, -1]; relu(2 * [0, -1]) = [0, 0]
    flat, emb3d = layer(tf.constant([[0.25, 1.0]]))
    np.testing.assert_allclose(flat.numpy(), [[1.5, 0.0, 0.0, 0.0]], atol=1e-6)
    assert emb3d.shape == (1, 2, 2) and layer.output_dim == 4


def test_periodic_without_linear_layer_and_as_a_list():
    layer = PeriodicEmbedding(1, 4, sigma=1.0, add_linear_layer=False, output_tensor_list=True)
    layer.coefficients.assign([[1.0, 0.25]])
    flat, parts = layer(tf.constant([[1.0 / 6.0]]))
    angles = [2 * math.pi / 6, 2 * math.pi / 24]
    expected = [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    np.testing.assert_allclose(flat.numpy(), [expected], rtol=1e-6)
    assert len(parts) == 1 and parts[0].shape == (1, 4)
    with pytest.raises(ValueError, match="even"):
        PeriodicEmbedding(1, 3, sigma=1.0)


# -- AutoDisEmbedding ------------------------------------------------------------------------
def test_autodis_softly_assigns_bins():
    layer = AutoDisEmbedding(1, 1, num_bins=2, temperature=0.5, keep_prob=0.8)
    layer.projection.assign([[1.0, -1.0]])
    layer.bin_mixing.assign([[[0.0, 0.0], [1.0, 0.0]]])
    layer.meta_embeddings.assign([[[1.0], [3.0]]])
    # x = 2: h = leaky_relu([2, -2]) = [2, -0.4]; s = M h + 0.8 h = [1.6, 2 - 0.32] = [1.6, 1.68]
    # softmax(s / 0.5) = softmax([3.2, 3.36]); e = p0 * 1 + p1 * 3
    p0 = 1.0 / (1.0 + math.exp(0.16))
    out = layer(tf.constant([[2.0]])).numpy()
    np.testing.assert_allclose(out, [[p0 + 3.0 * (1.0 - p0)]], rtol=1e-5)


# -- NaryDisEmbedding ------------------------------------------------------------------------
def test_num_positions_counts_digits_of_the_largest_uint32():
    assert num_positions(2) == 32 and num_positions(3) == 21 and num_positions(16) == 8


def nary_with_row_ids(**kwargs) -> NaryDisEmbedding:
    layer = NaryDisEmbedding(2, 1, carries=[2, 3], **kwargs)
    rows = layer.table.shape[0]
    layer.table.assign(tf.reshape(tf.range(rows, dtype=tf.float32), [rows, 1]))
    return layer


def test_nary_sums_the_rows_of_each_digit_per_base():
    layer = nary_with_row_ids()
    # per feature: base 2 rows [0, 64), base 3 rows [64, 127); feature 1 starts at row 127
    # feature 0, v = 5: base 2 "101" -> rows 1, 2 + 0, 4 + 1 -> 8; base 3 "12" -> 64 + 2,
    # 64 + 3 + 1 -> 134. feature 1, v = 0: base 2 row 127; base 3 row 127 + 64 = 191
    out = layer(tf.constant([[5.0, 0.0]])).numpy()
    np.testing.assert_allclose(out, [[8.0, 134.0, 127.0, 191.0]])
    assert layer.output_dim == 4


def test_nary_mean_pooling_multiplier_and_list_output():
    layer = nary_with_row_ids(intra_ary_pooling="mean", multiplier=2.0, output_tensor_list=True)
    flat, parts = layer(tf.constant([[2.6, 0.0]]))  # 5.2 -> 5
    np.testing.assert_allclose(flat.numpy(), [[8.0 / 3.0, 67.0, 127.0, 191.0]], rtol=1e-6)
    np.testing.assert_allclose(parts[1].numpy(), [[127.0, 191.0]])


def test_nary_replicas_give_one_output_per_replica():
    layer = NaryDisEmbedding(1, 1, carries=[2], num_replicas=2)
    rows = layer.table.shape[0]
    ids = tf.range(rows, dtype=tf.float32)
    layer.table.assign(tf.stack([ids, -ids], axis=1))
    first, second = layer(tf.constant([[3.0]]))  # "11" -> rows 1 + 3 = 4
    assert first.numpy().tolist() == [[4.0]] and second.numpy().tolist() == [[-4.0]]
    with pytest.raises(ValueError, match="intra_ary_pooling"):
        NaryDisEmbedding(1, 1, intra_ary_pooling="max")


# -- from_params -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,values,width", [
    ("PeriodicEmbedding", {"embedding_dim": 4, "sigma": 0.1}, 12),
    ("AutoDisEmbedding", {"embedding_dim": 2, "num_bins": 5, "temperature": 0.8}, 6),
    ("NaryDisEmbedding", {"embedding_dim": 2, "carries": [2, 10]}, 12),
])
def test_from_params_builds_from_the_input_width(name, values, width):
    cls = get_layer_class(name)
    layer = cls.from_params(struct_params(values), tf.TensorShape([None, 3]), "num")
    assert layer(tf.constant([[0.5, 1.0, 7.0]])).shape == (1, width)
    with pytest.raises(ValueError, match="embedding_dim"):
        cls.from_params(struct_params({}), tf.TensorShape([None, 3]), "num")
    with pytest.raises(ValueError, match="num_features"):
        cls.from_params(struct_params(values), tf.TensorShape([None, 3, 2]), "num")


def test_typed_params_messages():
    from easy_rec.layers.component import Params
    from easy_rec.protos import layer_pb2

    shape = tf.TensorShape([None, 2])
    periodic = PeriodicEmbedding.from_params(
        Params(layer_pb2.PeriodicEmbedding(embedding_dim=4, sigma=0.5, output_3d_tensor=True)),
        shape, "periodic")
    flat, emb3d = periodic(tf.ones([1, 2]))
    assert flat.shape == (1, 8) and emb3d.shape == (1, 2, 4)
    assert periodic.linear_weights is not None  # add_linear_layer defaults to true
    autodis = AutoDisEmbedding.from_params(
        Params(layer_pb2.AutoDisEmbedding(embedding_dim=3, num_bins=4, temperature=1.0)),
        shape, "autodis")
    assert autodis._keep_prob == 0.8 and autodis(tf.ones([1, 2])).shape == (1, 6)


def test_typed_nary_dis_message():
    from easy_rec.layers.component import Params
    from easy_rec.protos import layer_pb2

    message = layer_pb2.NaryDisEmbedding(embedding_dim=2, carries=[3], num_replicas=2)
    layer = NaryDisEmbedding.from_params(Params(message), tf.TensorShape([None, 2]), "nary")
    outputs = layer(tf.constant([[1.0, 2.0]]))
    assert len(outputs) == 2 and outputs[0].shape == (1, 4)

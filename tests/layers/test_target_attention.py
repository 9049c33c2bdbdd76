"""DIN's target attention: padding, normalizers and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, Params
from easy_rec.layers.target_attention import TargetAttention
from easy_rec.protos import seq_encoder_pb2


@pytest.mark.parametrize("normalizer", ["softmax", "sigmoid", "none"])
def test_target_attention_ignores_padding(normalizer):
    tf.random.set_seed(3)
    attention = TargetAttention(4, {"hidden_units": [8, 1], "use_bn": False}, normalizer)
    query = tf.random.normal([2, 4])
    sequence = tf.random.normal([2, 5, 4])
    mask = tf.constant([[True, True, False, False, False], [True] * 5])
    noisy = tf.where(mask[:, :, None], sequence, 100.0)  # garbage in the padded slots
    np.testing.assert_allclose(attention(query, sequence, mask).numpy(),
                               attention(query, noisy, mask).numpy(), rtol=1e-5, atol=1e-6)
    empty = attention(query, sequence, tf.zeros([2, 5], tf.bool))
    assert not empty.numpy().any()
    if normalizer == "softmax":
        scores = tf.random.normal([2, 5])
        weights = attention.weights_from_scores(scores, mask).numpy()
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_weights_of_a_hand_set_score():
    # dim 1, score = q * h (the MLP reads [q, h, q - h, q * h])
    attention = TargetAttention(1, {"hidden_units": [1], "activation": "linear",
                                    "use_bn": False})
    dense, = attention.mlp.dense_layers
    dense.kernel.assign([[0.0], [0.0], [0.0], [1.0]])
    dense.bias.assign([0.0])
    query, sequence = tf.constant([[1.0]]), tf.constant([[[0.0], [1.0], [5.0]]])
    mask = tf.constant([[True, True, False]])
    # scores [0, 1] over the real elements: weights [1, e] / (1 + e); pooled = e / (1 + e)
    e = np.e
    np.testing.assert_allclose(attention.attention_weights(query, sequence, mask).numpy(),
                               [[1 / (1 + e), e / (1 + e), 0.0]], rtol=1e-6)
    np.testing.assert_allclose(attention(query, sequence, mask).numpy(), [[e / (1 + e)]],
                               rtol=1e-6)


def test_din_component_pads_a_narrower_target_and_appends_it():
    config = seq_encoder_pb2.DINEncoder()
    config.attention_dnn.hidden_units.extend([4, 1])
    shapes = (tf.TensorShape([None, 3, 4]), tf.TensorShape([None]), tf.TensorShape([None, 2]))
    din = TargetAttention.from_params(Params(config, "din"), shapes, "din")
    assert din.mlp.bn_layers[-1] is None and din.mlp.dense_layers[-1].bias is not None
    sequence = tf.constant(np.random.default_rng(1).normal(size=[2, 3, 4]), tf.float32)
    length, target = tf.constant([1, 3]), tf.constant([[1.0, 2.0], [3.0, 4.0]])
    out = din.call_block((sequence, length, target), False, BlockContext())
    padded = tf.pad(target, [[0, 0], [0, 2]])
    pooled = din(padded, sequence, tf.sequence_mask(length, 3))
    np.testing.assert_allclose(out.numpy(), tf.concat([pooled, target], 1).numpy(), rtol=1e-6)
    # the first row has one real element: all the weight on it
    np.testing.assert_allclose(pooled[0].numpy(), sequence[0, 0].numpy(), rtol=1e-6)

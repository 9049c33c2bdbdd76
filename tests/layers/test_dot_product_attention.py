"""EasyRec's Attention (Luong dot-product attention) against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.dot_product_attention import DotProductAttention
from easy_rec.layers.registry import get_layer_class

QUERY = tf.constant([[[1.0, 0.0]]])               # [1, Tq=1, 2]
VALUE = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])   # [1, Tv=2, 2]


def mix(score0: float, score1: float) -> list[float]:
    """softmax([s0, s1]) @ VALUE for one query: [p0, p1]."""
    p0 = 1.0 / (1.0 + math.exp(score1 - score0))
    return [p0, 1.0 - p0]


@pytest.mark.parametrize("kwargs,scores", [
    ({}, (1.0, 0.0)),                                  # q . k
    ({"scale_by_dim": True}, (1.0 / math.sqrt(2), 0.0)),
    ({"score_mode": "concat"}, (math.tanh(2.0), 2 * math.tanh(1.0))),
])
def test_scores_and_weighted_values(kwargs, scores):
    out = DotProductAttention(**kwargs)([QUERY, VALUE]).numpy()
    np.testing.assert_allclose(out, [[mix(*scores)]], rtol=1e-6)


def test_learned_scale_key_masks_and_scores():
    layer = DotProductAttention(use_scale=True, return_attention_scores=True)
    layer.scale.assign(2.0)
    key = tf.constant([[[0.0, 1.0], [1.0, 0.0]]])      # swaps which value scores high
    out, weights = layer([QUERY, VALUE, key])
    np.testing.assert_allclose(out.numpy(), [[mix(0.0, 2.0)]], rtol=1e-6)
    np.testing.assert_allclose(weights.numpy(), [[mix(0.0, 2.0)]], rtol=1e-6)
    masked = DotProductAttention()([QUERY, VALUE], mask=[None, tf.constant([[False, True]])])
    np.testing.assert_allclose(masked.numpy(), [[[0.0, 1.0]]], atol=1e-6)
    zeroed = DotProductAttention()([QUERY, VALUE], mask=[tf.constant([[False]]), None])
    assert zeroed.numpy().tolist() == [[[0.0, 0.0]]]


def test_causal_mask_hides_later_positions():
    out = DotProductAttention(use_causal_mask=True)([VALUE, VALUE]).numpy()
    # position 0 sees only itself; position 1 sees both with scores [0, 1]
    np.testing.assert_allclose(out, [[[1.0, 0.0], mix(0.0, 1.0)]], rtol=1e-6)


def test_from_params_and_registry():
    assert get_layer_class("Attention") is DotProductAttention
    shapes = [tf.TensorShape([None, 1, 2]), tf.TensorShape([None, 2, 2])]
    layer = DotProductAttention.from_params(struct_params({"scale_by_dim": True}), shapes, "att")
    np.testing.assert_allclose(layer([QUERY, VALUE]).numpy(),
                               [[mix(1.0 / math.sqrt(2), 0.0)]], rtol=1e-6)
    with pytest.raises(ValueError, match="query, value"):
        DotProductAttention.from_params(struct_params({}), tf.TensorShape([None, 2]), "att")
    with pytest.raises(ValueError, match="score_mode"):
        DotProductAttention(score_mode="general")

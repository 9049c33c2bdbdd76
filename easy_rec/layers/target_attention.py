"""DIN's target attention: score each history element against the target, pool the history.

Reference: Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018,
https://arxiv.org/abs/1706.06978.

For a target (query) q and history elements h_1..h_L, an attention MLP scores each pair,

    s_t = MLP([q, h_t, q - h_t, q * h_t]),   a = norm(s),   output = sum_t a_t h_t

where norm is a softmax over the real elements, a sigmoid, or none (DIN's unnormalised
weights); padding always gets weight 0.

Shapes: query [batch, dim], sequence [batch, len, dim], mask [batch, len] -> [batch, dim].
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.registry import register_layer

NORMALIZERS = ("softmax", "sigmoid", "none")


def masked_softmax(scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis restricted to mask True; masked entries (and every entry of a
    row without any True one) get weight 0."""
    masked = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
    return tf.nn.softmax(masked, axis=-1) * tf.cast(mask, scores.dtype)


@register_layer("DIN")
class TargetAttention(Layer):
    """Weighted sum of a history, weights from an MLP over [q, h, q - h, q * h].

    query [batch, dim], sequence [batch, len, dim], mask [batch, len] -> [batch, dim]. With
    'softmax' the weights of the real elements sum to 1; 'sigmoid' and 'none' keep DIN's
    unnormalised weights (padding always gets weight 0). An empty history pools to zeros.
    attention_mlp: MLP keyword arguments of the scoring MLP.
    """

    def __init__(self, dim: int, attention_mlp: Mapping[str, Any], normalizer: str = "softmax",
                 name: str | None = None):
        super().__init__(name=name)
        if normalizer not in NORMALIZERS:
            raise ValueError(f"attention_normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        self.normalizer = normalizer
        self.output_dim = dim
        with self.name_scope:
            self.mlp = MLP(4 * dim, **attention_mlp, name="mlp")
            # a DNN whose last layer already has 1 unit is the score; otherwise project to 1
            self.score = None if self.mlp.output_dim == 1 else Dense(self.mlp.output_dim, 1,
                                                                     name="score")

    def __call__(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                 training: bool = False) -> tf.Tensor:
        weights = self.attention_weights(query, sequence, mask, training)
        return tf.einsum("bl,bld->bd", weights, sequence)

    def attention_weights(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                          training: bool = False) -> tf.Tensor:
        """[batch, len] weights of the history elements (see the normalizer); zero on padding."""
        length = tf.shape(sequence)[1]
        q = tf.tile(query[:, None, :], [1, length, 1])
        pairs = tf.concat([q, sequence, q - sequence, q * sequence], axis=-1)
        flat = tf.reshape(pairs, [-1, pairs.shape[-1]])
        scores = self.mlp(flat, training)
        if self.score is not None:
            scores = self.score(scores)
        return self.weights_from_scores(tf.reshape(scores, [-1, length]), mask)

    def weights_from_scores(self, scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """[batch, len] attention weights; zero on padding."""
        if self.normalizer == "softmax":
            return masked_softmax(scores, mask)
        mask_f = tf.cast(mask, scores.dtype)
        if self.normalizer == "sigmoid":
            return tf.sigmoid(scores) * mask_f
        return scores * mask_f

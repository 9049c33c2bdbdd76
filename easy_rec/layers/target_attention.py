"""DIN's target attention: score each history element against the target, pool the history."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.core import MLP, Dense
from easy_rec.protos import dnn_pb2

NORMALIZERS = ("softmax", "sigmoid", "none")


def masked_softmax(scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis restricted to mask True; masked entries (and every entry of a
    row without any True one) get weight 0."""
    masked = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
    return tf.nn.softmax(masked, axis=-1) * tf.cast(mask, scores.dtype)


class TargetAttention(tf.Module):
    """Weighted sum of a history, weights from an MLP over [q, h, q - h, q * h].

    query [batch, dim], sequence [batch, len, dim], mask [batch, len] -> [batch, dim]. With
    'softmax' the weights of the real elements sum to 1; 'sigmoid' and 'none' keep DIN's
    unnormalised weights (padding always gets weight 0). An empty history pools to zeros.
    """

    def __init__(self, dim: int, dnn: dnn_pb2.DNN, normalizer: str = "softmax",
                 name: str | None = None):
        super().__init__(name=name)
        if normalizer not in NORMALIZERS:
            raise ValueError(f"attention_normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        self.normalizer = normalizer
        self.output_dim = dim
        with self.name_scope:
            self.mlp = MLP.from_config(4 * dim, dnn, name="mlp")
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

    def kernels(self) -> list[tf.Variable]:
        """Dense kernels (for l2_regularization)."""
        return self.mlp.kernels() + ([self.score.kernel] if self.score is not None else [])

"""Positions in padded sequences: recency order and learned position embeddings.

A learned position embedding adds p_k, row k of a [num_positions, dim] table, to the token at
position k (Devlin et al., "BERT", NAACL 2019, https://arxiv.org/abs/1810.04805; BST, Chen et
al. 2019). Positions here count back from the most recent element: for a history of n real
elements, element t (oldest first) has position n - 1 - t.

Shapes: PositionEmbedding maps integer ids of any shape [...] -> [..., dim];
to_recency_order keeps [batch, len, ...]; recency_positions gives [batch, max_len].
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.registry import register_layer


def to_recency_order(sequence: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """Reverses the first `length` elements of each row of an oldest-first, right-padded
    [batch, len, ...] tensor, so that index 0 is the most recent element; padding stays last."""
    return tf.reverse_sequence(sequence, tf.cast(length, tf.int64), seq_axis=1, batch_axis=0)


def recency_positions(length: tf.Tensor, max_len: int) -> tf.Tensor:
    """[batch, max_len] position ids of an oldest-first, right-padded sequence counted from its
    last real element: the last element gets 0, the one before it 1, ...; padding gets 0."""
    index = tf.range(max_len)[None, :]
    length = tf.cast(length, tf.int32)[:, None]
    return tf.where(index < length, length - 1 - index, 0)


@register_layer("PositionEmbedding")
class PositionEmbedding(Layer):
    """A learned [num_positions, dim] table (small and dense: positions are not a vocabulary).

    Ids at or beyond num_positions share the last row. The table is no kernel (no L2); it starts
    truncated-normal with `stddev` (default dim ** -0.5)."""

    def __init__(self, num_positions: int, dim: int, stddev: float | None = None,
                 name: str | None = None):
        super().__init__(name=name)
        if num_positions < 1 or dim < 1:
            raise ValueError(f"num_positions and dim must be >= 1, got {num_positions}, {dim}")
        self.num_positions = num_positions
        self.dim = dim
        with self.name_scope:
            self.weights = tf.Variable(
                tf.random.truncated_normal([num_positions, dim],
                                           stddev=dim ** -0.5 if stddev is None else stddev),
                name="weights")

    def __call__(self, positions: tf.Tensor) -> tf.Tensor:
        """Integer position ids of any shape -> [..., dim]."""
        return tf.gather(self.weights, tf.minimum(positions, self.num_positions - 1))

    def all(self) -> tf.Tensor:
        """Embeddings of every position, [num_positions, dim]."""
        return tf.convert_to_tensor(self.weights)

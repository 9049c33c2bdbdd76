"""Feature interaction layers."""
from __future__ import annotations

import tensorflow as tf


def fm_interaction(embeddings: list[tf.Tensor]) -> tf.Tensor:
    """Second-order factorization-machine term: sum over pairs <v_i, v_j>, shape [batch, 1]."""
    stacked = tf.stack(embeddings, axis=1)  # [batch, fields, dim]
    square_of_sum = tf.square(tf.reduce_sum(stacked, axis=1))
    sum_of_square = tf.reduce_sum(tf.square(stacked), axis=1)
    return 0.5 * tf.reduce_sum(square_of_sum - sum_of_square, axis=1, keepdims=True)

"""Parameter-free feature interactions: the factorization-machine term and DLRM's dot products.

References: Rendle, "Factorization Machines", ICDM 2010; Naumov et al., "Deep Learning
Recommendation Model for Personalization and Recommendation Systems", 2019,
https://arxiv.org/abs/1906.00091.

    FM:  sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_i v_id)^2 - sum_i v_id^2)
         (per dimension, without the sum over d: sum_{i<j} v_i * v_j)
    dot: [<v_i, v_j> for i < j] (i <= j with self-interaction)

Shapes: n tensors [batch, dim] -> FM [batch, 1] (per dimension [batch, dim]);
dot [batch, n (n - 1) / 2]
(or [batch, n (n + 1) / 2]).
"""
from __future__ import annotations

import tensorflow as tf


def fm_interaction(embeddings: list[tf.Tensor], per_dimension: bool = False) -> tf.Tensor:
    """Second-order factorization-machine term: sum over pairs <v_i, v_j>, shape [batch, 1];
    per_dimension keeps the pairs' elementwise products summed per dimension, [batch, dim]."""
    stacked = tf.stack(embeddings, axis=1)  # [batch, fields, dim]
    square_of_sum = tf.square(tf.reduce_sum(stacked, axis=1))
    sum_of_square = tf.reduce_sum(tf.square(stacked), axis=1)
    pairs = 0.5 * (square_of_sum - sum_of_square)
    return pairs if per_dimension else tf.reduce_sum(pairs, axis=1, keepdims=True)


def dot_interaction(vectors: list[tf.Tensor], self_interaction: bool = False) -> tf.Tensor:
    """DLRM's interaction: dot products <v_i, v_j> of n [batch, dim] vectors over pairs i < j.

    With self_interaction the pairs i <= j are taken. Pairs are in row-major order of the upper
    triangle; the result is [batch, n (n - 1) / 2] (or [batch, n (n + 1) / 2]).
    """
    n = len(vectors)
    stacked = tf.stack(vectors, axis=1)  # [batch, n, dim]
    gram = tf.reshape(tf.matmul(stacked, stacked, transpose_b=True), [-1, n * n])
    first = 0 if self_interaction else 1
    pairs = [i * n + j for i in range(n) for j in range(i + first, n)]
    return tf.gather(gram, pairs, axis=1)

"""Parameter-free feature interactions: the factorization-machine term and DLRM's dot products,
as functions and as backbone components (FM, DotInteraction).

References: Rendle, "Factorization Machines", ICDM 2010; Naumov et al., "Deep Learning
Recommendation Model for Personalization and Recommendation Systems", 2019,
https://arxiv.org/abs/1906.00091.

    FM:  sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_i v_id)^2 - sum_i v_id^2)
         (per dimension, without the sum over d: sum_{i<j} v_i * v_j)
    dot: [<v_i, v_j> for i < j] (i <= j with self-interaction)

Shapes: n tensors [batch, dim] -> FM [batch, 1]; dot [batch, n (n - 1) / 2]
(or [batch, n (n + 1) / 2]). The components take a list of [batch, dim] tensors or one
[batch, n, dim] tensor; FM with use_variant returns the [batch, dim] vector before the sum
over dim, DotInteraction with skip_gather the whole [batch, n * n] lower-triangular matrix.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from easy_rec.layers import shared_rows
from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes, field_count, stack_fields
from easy_rec.layers.registry import register_layer


def fm_interaction(embeddings: list[tf.Tensor], per_dimension: bool = False) -> tf.Tensor:
    """Second-order factorization-machine term: sum over pairs <v_i, v_j>, shape [batch, 1];
    per_dimension keeps the pairs' elementwise products summed per dimension, [batch, dim].
    In a one user × N items call the user-side fields' sums are taken once (shared_rows)."""
    total, squares = shared_rows.sum_fields(embeddings, _sums)
    pairs = 0.5 * (tf.square(total) - squares)
    return pairs if per_dimension else tf.reduce_sum(pairs, axis=1, keepdims=True)


def _sums(fields: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """(sum of the fields, sum of their squares), [batch, dim] each."""
    stacked = tf.stack(fields, axis=1)  # [batch, fields, dim]
    return tf.reduce_sum(stacked, axis=1), tf.reduce_sum(tf.square(stacked), axis=1)


def fm_interaction_by_width(embeddings: list[tf.Tensor]) -> tf.Tensor:
    """fm_interaction over fields of mixed widths: the fields of each width interact among
    themselves and the terms are summed ([batch, 1]); pairs of different widths have no inner
    product. With one width it equals fm_interaction."""
    by_width: dict[int, list[tf.Tensor]] = {}
    for embedding in embeddings:
        by_width.setdefault(int(embedding.shape[-1]), []).append(embedding)
    return tf.add_n([fm_interaction(fields) for fields in by_width.values()])


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


@register_layer("FM")
class FM(Layer):
    """The FM term over field embeddings; use_variant keeps the per-dimension vector."""

    def __init__(self, use_variant: bool = False, name: str | None = None):
        super().__init__(name=name)
        self.use_variant = use_variant

    def __call__(self, inputs: Any, training: bool = False) -> tf.Tensor:  # noqa: ARG002
        fields = stack_fields(inputs)
        square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
        sum_of_square = tf.reduce_sum(tf.square(fields), axis=1)
        cross = 0.5 * (square_of_sum - sum_of_square)
        return cross if self.use_variant else tf.reduce_sum(cross, axis=1, keepdims=True)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> FM:
        field_count(input_shape, "FM")
        return cls(params.get("use_variant", False), name=name)


@register_layer("DotInteraction")
class DotInteraction(Layer):
    """DLRM's pairwise dot products of field embeddings (pairs i < j, or i <= j with
    self_interaction); skip_gather returns the n * n matrix with the other entries zeroed."""

    def __init__(self, self_interaction: bool = False, skip_gather: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        self.self_interaction = self_interaction
        self.skip_gather = skip_gather

    def __call__(self, inputs: Any, training: bool = False) -> tf.Tensor:  # noqa: ARG002
        fields = stack_fields(inputs)
        if not self.skip_gather:
            return dot_interaction(tf.unstack(fields, axis=1), self.self_interaction)
        n = fields.shape[1]
        gram = tf.matmul(fields, fields, transpose_b=True)
        keep = tf.linalg.band_part(tf.ones([n, n]), -1, 0)  # lower triangle with diagonal
        if not self.self_interaction:
            keep -= tf.eye(n)
        return tf.reshape(gram * keep, [-1, n * n])

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> DotInteraction:
        field_count(input_shape, "DotInteraction")
        return cls(params.get("self_interaction", False), params.get("skip_gather", False),
                   name=name)

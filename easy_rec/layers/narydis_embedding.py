"""NaryDis: numeric features embedded through their digits in several number bases.

Reference: Chen et al., "Numerical Feature Representation with Hybrid N-ary Encoding",
CIKM 2022, https://dl.acm.org/doi/10.1145/3511808.3557090 (EasyRec's `NaryDisEmbedding`).

A value x is scaled by `multiplier` and truncated to an integer v (read as an unsigned 32-bit
number, as EasyRec's kernel does). For each base (carry) c, v is written in base c; digit d at
position p (p = 0 the least significant, up to the highest non-zero digit; v = 0 has the one
digit 0) has its own embedding row T[n, c, p, d] for feature n, and

    e_{n, c} = pool_p T[n, c, p, d_p(v)]      (pool: sum or mean over the digits)
    e_n = [e_{n, c_1}, e_{n, c_2}, ...]        (width len(carries) * D)

Each base c has floor(log_c(2^32 - 1)) + 1 positions of c rows each. With num_replicas R the
table rows are R * D wide and the layer returns R such embeddings.

Shapes: [batch, N] -> [batch, N * len(carries) * D] (plus the list / 3-D forms of
numeric_embedding); with R > 1 a list of the R flat outputs followed by the R list / 3-D forms
when asked. EasyRec computes the digits with a custom op (not available on every TF version);
here they are plain TensorFlow integer ops. Deliberate difference: EasyRec's list output for
one replica splits the [batch * N, ...] rows into N blocks of consecutive rows, which mixes
examples; here element n of the list is feature n's [batch, len(carries) * D] embedding.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.field_interaction import glorot_uniform
from easy_rec.layers.numeric_embedding import NumericOutput, num_features, numeric_outputs
from easy_rec.layers.registry import register_layer

POOLINGS = ("sum", "mean")
_MAX_VALUE = 2 ** 32 - 1


def num_positions(carry: int) -> int:
    """Digits of the largest unsigned 32-bit value in base `carry`."""
    positions, value = 0, _MAX_VALUE
    while value:
        value //= carry
        positions += 1
    return positions


@register_layer("NaryDisEmbedding")
class NaryDisEmbedding(Layer):
    """Embeddings of the base-c digits of each (scaled, truncated) numeric value, per base."""

    def __init__(self, num_features: int, embedding_dim: int, carries: Sequence[int] = (2, 9),
                 multiplier: float = 1.0, intra_ary_pooling: str = "sum", num_replicas: int = 1,
                 output_tensor_list: bool = False, output_3d_tensor: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        if not carries or min(carries) < 2:
            raise ValueError(f"carries must be bases >= 2, got {list(carries)}")
        if intra_ary_pooling not in POOLINGS:
            raise ValueError(f"intra_ary_pooling must be one of {POOLINGS}, "
                             f"got {intra_ary_pooling!r}")
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        self._carries = [int(c) for c in carries]
        self._positions = [num_positions(c) for c in self._carries]
        sizes = [p * c for p, c in zip(self._positions, self._carries)]
        self._offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self._vocab = sum(sizes)  # table rows per feature
        self._num_features = num_features
        self._dim = embedding_dim
        self._multiplier = multiplier
        self._pooling = intra_ary_pooling
        self._replicas = num_replicas
        self._outputs = (output_tensor_list, output_3d_tensor)
        with self.name_scope:
            self.table = tf.Variable(
                glorot_uniform([num_features * self._vocab, num_replicas * embedding_dim]),
                name="embed_table")
        self.output_dim = num_features * len(self._carries) * embedding_dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> NaryDisEmbedding:
        params.require("embedding_dim", "carries")
        return cls(num_features(input_shape, "NaryDisEmbedding"),
                   params.get("embedding_dim", 0, int), params.get("carries", [2, 9], int),
                   multiplier=params.get("multiplier", 1.0),
                   intra_ary_pooling=params.get("intra_ary_pooling", "sum"),
                   num_replicas=params.get("num_replicas", 1),
                   output_tensor_list=params.get("output_tensor_list", False),
                   output_3d_tensor=params.get("output_3d_tensor", False), name=name)

    def digit_rows(self, inputs: tf.Tensor, carry_index: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Table rows [batch, N, P] of the digits of each value in one base, and the mask
        [batch, N, P] of the digits the value has (its non-zero leading part, at least one)."""
        carry, positions = self._carries[carry_index], self._positions[carry_index]
        scaled = inputs * self._multiplier if self._multiplier != 1.0 else inputs
        value = tf.cast(tf.bitcast(tf.cast(scaled, tf.int32), tf.uint32), tf.int64)
        powers = tf.constant([carry ** p for p in range(positions)], tf.int64)
        digits = (value[:, :, None] // powers) % carry
        has_digit = (powers <= tf.maximum(value, 1)[:, :, None])
        features = tf.range(self._num_features, dtype=tf.int64)[None, :, None] * self._vocab
        rows = (features + self._offsets[carry_index]
                + tf.range(positions, dtype=tf.int64) * carry + digits)
        return rows, has_digit

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> NumericOutput | list:
        """[batch, N] numeric values -> see the module docstring."""
        per_carry = []
        for i in range(len(self._carries)):
            rows, has_digit = self.digit_rows(inputs, i)
            mask = tf.cast(has_digit, self.table.dtype)[..., None]
            pooled = tf.reduce_sum(tf.gather(self.table, rows) * mask, axis=2)  # [b, N, R * D]
            if self._pooling == "mean":
                pooled /= tf.reduce_sum(mask, axis=2)
            per_carry.append(pooled)
        stacked = tf.stack(per_carry, axis=2)  # [b, N, C, R * D]
        width = len(self._carries) * self._dim
        replicas = [tf.reshape(r, [-1, self._num_features, width])
                    for r in tf.split(stacked, self._replicas, axis=-1)]
        if self._replicas == 1:
            return numeric_outputs(replicas[0], *self._outputs)
        outputs = [numeric_outputs(r, *self._outputs) for r in replicas]
        if not any(self._outputs):
            return outputs
        return [flat for flat, _ in outputs] + [extra for _, extra in outputs]

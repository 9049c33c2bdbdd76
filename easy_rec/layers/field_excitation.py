"""Squeeze-and-excitation with one weight per embedding value, over fields of any widths.

Reference: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018,
https://arxiv.org/abs/1709.01507; as EasyRec's DSSM_SENet applies it to the feature embeddings
of a tower (its keras SENet without skip connection and layer norm).

For fields e_1..e_f (e_i of width d_i), each split into g = num_squeeze_group equal groups:

    z = [max(e_1^1..g), mean(e_1^1..g), ..., max(e_f^1..g), mean(e_f^1..g)]   (2 f g values;
        max(e_i^1..g) is the max within each of field i's g groups)
    a = W_2 relu(W_1 z + b_1) + b_2              (W_1: 2fg -> max(1, 2fg // reduction_ratio),
                                                  W_2: -> d_1 + ... + d_f, no activation)
    output = concat(e_1, ..., e_f) * a

Shapes: a list of f tensors [batch, d_i] -> [batch, d_1 + ... + d_f].
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("FieldExcitation")
class FieldExcitation(Layer):
    """Re-weights every value of the concatenated field embeddings by a learned excitation of
    their per-group max and mean (see the module docstring)."""

    def __init__(self, field_dims: Sequence[int], reduction_ratio: int = 2,
                 num_squeeze_group: int = 1, name: str | None = None):
        super().__init__(name=name)
        self.field_dims = [int(d) for d in field_dims]
        if not self.field_dims:
            raise ValueError("FieldExcitation needs at least one field")
        if num_squeeze_group < 1 or reduction_ratio < 1:
            raise ValueError(f"num_squeeze_group and reduction_ratio must be >= 1, got "
                             f"{num_squeeze_group}, {reduction_ratio}")
        uneven = [d for d in self.field_dims if d % num_squeeze_group]
        if uneven:
            raise ValueError(f"field widths {uneven} are not divisible by num_squeeze_group "
                             f"{num_squeeze_group}")
        self._groups = num_squeeze_group
        squeezed = 2 * len(self.field_dims) * num_squeeze_group
        with self.name_scope:
            self.reduce = Dense(squeezed, max(1, squeezed // reduction_ratio), name="reduce")
            self.excite = Dense(self.reduce.units, sum(self.field_dims), name="excite")
        self.output_dim = sum(self.field_dims)

    def __call__(self, fields: Sequence[tf.Tensor]) -> tf.Tensor:
        squeezed = []
        for field, dim in zip(fields, self.field_dims):
            groups = tf.reshape(field, [-1, self._groups, dim // self._groups])
            squeezed += [tf.reduce_max(groups, axis=-1), tf.reduce_mean(groups, axis=-1)]
        weights = self.excite(tf.nn.relu(self.reduce(tf.concat(squeezed, axis=1))))
        return tf.concat(list(fields), axis=1) * weights

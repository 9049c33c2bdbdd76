"""Compressed interaction network (CIN) of xDeepFM.

Reference: Lian et al., "xDeepFM: Combining Explicit and Implicit Feature Interactions for
Recommender Systems", KDD 2018, https://arxiv.org/abs/1803.05170.

With X^0 the m field embeddings of width D, layer k computes H_k feature maps

    X^k[h, d] = sum_{i, j} W^k[h, i, j] X^{k-1}[i, d] X^0[j, d] + b^k[h]

and sum-pools each map over d; the pooled values of all layers are concatenated.

Shapes: [batch, num_fields, D] -> [batch, output_dim] (the sum of the pooled maps per layer).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes, field_count, stack_fields
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("CIN")
class CIN(Layer):
    """Vector-wise explicit interactions of bounded degree over m field embeddings of width D.

    With X^0 the [m, D] field embeddings, layer k builds, for every embedding dimension d, the
    outer product of X^{k-1}[:, d] and X^0[:, d] (H_{k-1} * m values) and compresses it into
    H_k feature maps: X^k[h, d] = sum_{i, j} W^k[h, i, j] X^{k-1}[i, d] X^0[j, d] + b^k[h].
    Each layer's maps are sum-pooled over d and the pooled values of all layers concatenated.
    With `split_half`, every layer but the last passes half of its maps to the next layer and
    pools the other half (so those sizes must be even).
    """

    def __init__(self, num_fields: int, feature_maps: Sequence[int], split_half: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if not feature_maps:
            raise ValueError("CIN needs at least one layer in feature_maps")
        last = len(feature_maps) - 1
        if split_half and any(maps % 2 for maps in feature_maps[:last]):
            raise ValueError(f"CIN with split_half needs even feature maps in every layer but "
                             f"the last, got {list(feature_maps)}")
        self.num_fields = num_fields
        self._split = [split_half and k < last for k in range(len(feature_maps))]
        self.layers: list[Dense] = []
        self.output_dim = 0
        previous = num_fields
        with self.name_scope:
            for k, maps in enumerate(feature_maps):
                self.layers.append(Dense(previous * num_fields, maps, name=f"layer_{k}"))
                previous = maps // 2 if self._split[k] else maps
                self.output_dim += previous

    def __call__(self, fields: tf.Tensor) -> tf.Tensor:
        """[batch, num_fields, D] -> [batch, output_dim]."""
        x0 = tf.transpose(fields, [0, 2, 1])  # [b, D, m]: one row of fields per dimension
        shape = tf.shape(x0)
        x = x0
        pooled = []
        for layer, split in zip(self.layers, self._split):
            outer = x[:, :, :, None] * x0[:, :, None, :]  # [b, D, H_{k-1}, m]
            width = x.shape[2] * self.num_fields
            maps = layer(tf.reshape(outer, [shape[0], shape[1], width]))  # [b, D, H_k]
            x, kept = tf.split(maps, 2, axis=2) if split else (maps, maps)
            pooled.append(tf.reduce_sum(kept, axis=1))
        return tf.concat(pooled, axis=1)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> CIN:
        """EasyRec's CIN component: hidden_feature_sizes (every layer pooled whole, no
        split_half); input [batch, fields, dim]."""
        params.require("hidden_feature_sizes")
        fields, _ = field_count(input_shape, "CIN")
        return cls(fields, params.get("hidden_feature_sizes", [], int), split_half=False,
                   name=name)

    def call_block(self, inputs: tf.Tensor, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        return self(stack_fields(inputs))

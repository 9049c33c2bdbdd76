"""Periodic embeddings of numeric features.

Reference: Gorishniy et al., "On Embeddings for Numerical Features in Tabular Deep Learning",
NeurIPS 2022, https://arxiv.org/abs/2203.05556 (EasyRec's `PeriodicEmbedding` component).

Feature n with value x_n gets learned frequencies c_n (embedding_dim / 2 of them, initialised
from N(0, sigma^2) -- sigma matters a lot and has to be tuned) and the embedding

    v_n = [sin(2 pi c_n x_n), cos(2 pi c_n x_n)]                      (width embedding_dim)
    e_n = act(v_n W_n + b_n)      with add_linear_layer: one linear map per feature

Shapes: [batch, N] -> [batch, N * embedding_dim] (plus the list / 3-D forms of
numeric_embedding). The per-feature maps W_n, like EasyRec's, take no L2.
"""
from __future__ import annotations

import math

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import get_activation
from easy_rec.layers.field_interaction import glorot_uniform
from easy_rec.layers.numeric_embedding import NumericOutput, num_features, numeric_outputs
from easy_rec.layers.registry import register_layer


@register_layer("PeriodicEmbedding")
class PeriodicEmbedding(Layer):
    """sin / cos of learned multiples of each numeric feature, optionally mapped per feature."""

    def __init__(self, num_features: int, embedding_dim: int, sigma: float,
                 add_linear_layer: bool = True, linear_activation: str = "relu",
                 output_tensor_list: bool = False, output_3d_tensor: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        if embedding_dim < 2 or embedding_dim % 2:
            raise ValueError(f"embedding_dim must be even and positive, got {embedding_dim}")
        self._activation = get_activation(linear_activation) if add_linear_layer else None
        self._outputs = (output_tensor_list, output_3d_tensor)
        with self.name_scope:
            self.coefficients = tf.Variable(
                tf.random.normal([num_features, embedding_dim // 2], stddev=sigma),
                name="coefficients")
            self.linear_weights = self.linear_bias = None
            if add_linear_layer:
                self.linear_weights = tf.Variable(
                    glorot_uniform([num_features, embedding_dim, embedding_dim]), name="weights")
                self.linear_bias = tf.Variable(tf.zeros([num_features, embedding_dim]),
                                               name="bias")
        self.output_dim = num_features * embedding_dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> PeriodicEmbedding:
        params.require("embedding_dim", "sigma")
        return cls(num_features(input_shape, "PeriodicEmbedding"),
                   params.get("embedding_dim", 0, int), params.get("sigma", 0.0, float),
                   add_linear_layer=params.get("add_linear_layer", True),
                   linear_activation=params.get("linear_activation", "relu"),
                   output_tensor_list=params.get("output_tensor_list", False),
                   output_3d_tensor=params.get("output_3d_tensor", False), name=name)

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> NumericOutput:
        """[batch, N] numeric values -> see numeric_embedding.numeric_outputs."""
        angles = 2.0 * math.pi * self.coefficients * inputs[:, :, None]  # [b, N, E / 2]
        embeddings = tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)
        if self.linear_weights is not None:
            embeddings = tf.einsum("bne,nef->bnf", embeddings, self.linear_weights)
            embeddings = self._activation(embeddings + self.linear_bias)
        return numeric_outputs(embeddings, *self._outputs)

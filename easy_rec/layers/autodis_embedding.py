"""AutoDis: numeric features embedded by a soft, learned discretisation.

Reference: Guo et al., "An Embedding Learning Framework for Numerical Features in CTR
Prediction", KDD 2021, https://arxiv.org/abs/2012.08986 (EasyRec's `AutoDisEmbedding`).

Feature n with value x_n has num_bins (K) meta-embeddings E_n [K, D], a projection w_n [K]
and a bin-mixing matrix M_n [K, K]:

    h = leaky_relu(w_n x_n)                      (slope 0.2)
    s = M_n h + keep_prob * h                    (keep_prob: weight of the skip connection)
    e_n = softmax(s / temperature) E_n

Shapes: [batch, N] -> [batch, N * D] (plus the list / 3-D forms of numeric_embedding).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.field_interaction import glorot_uniform
from easy_rec.layers.numeric_embedding import NumericOutput, num_features, numeric_outputs
from easy_rec.layers.registry import register_layer


@register_layer("AutoDisEmbedding")
class AutoDisEmbedding(Layer):
    """Soft assignment of each numeric value to num_bins learned bins, then their embeddings."""

    def __init__(self, num_features: int, embedding_dim: int, num_bins: int, temperature: float,
                 keep_prob: float = 0.8, output_tensor_list: bool = False,
                 output_3d_tensor: bool = False, name: str | None = None):
        super().__init__(name=name)
        if num_bins < 1 or embedding_dim < 1 or temperature <= 0:
            raise ValueError("AutoDisEmbedding needs num_bins >= 1, embedding_dim >= 1 and "
                             f"temperature > 0, got {num_bins}, {embedding_dim}, {temperature}")
        self._keep_prob = keep_prob
        self._temperature = temperature
        self._outputs = (output_tensor_list, output_3d_tensor)
        with self.name_scope:
            self.meta_embeddings = tf.Variable(
                glorot_uniform([num_features, num_bins, embedding_dim]), name="meta_embedding")
            self.projection = tf.Variable(glorot_uniform([num_features, num_bins]),
                                          name="project_w")
            self.bin_mixing = tf.Variable(glorot_uniform([num_features, num_bins, num_bins]),
                                          name="project_mat")
        self.output_dim = num_features * embedding_dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> AutoDisEmbedding:
        params.require("embedding_dim", "num_bins", "temperature")
        return cls(num_features(input_shape, "AutoDisEmbedding"),
                   params.get("embedding_dim", 0, int), params.get("num_bins", 0, int),
                   params.get("temperature", 0.0, float),
                   keep_prob=params.get("keep_prob", 0.8),
                   output_tensor_list=params.get("output_tensor_list", False),
                   output_3d_tensor=params.get("output_3d_tensor", False), name=name)

    def bin_weights(self, inputs: tf.Tensor) -> tf.Tensor:
        """[batch, N] values -> [batch, N, K] soft bin assignments (rows sum to 1)."""
        hidden = tf.nn.leaky_relu(self.projection * inputs[:, :, None])  # [b, N, K]
        mixed = tf.einsum("nik,bnk->bni", self.bin_mixing, hidden) + self._keep_prob * hidden
        return tf.nn.softmax(mixed / self._temperature, axis=-1)

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> NumericOutput:
        """[batch, N] numeric values -> see numeric_embedding.numeric_outputs."""
        embeddings = tf.einsum("bnk,nkd->bnd", self.bin_weights(inputs), self.meta_embeddings)
        return numeric_outputs(embeddings, *self._outputs)

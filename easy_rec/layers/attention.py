"""Multi-head self-attention over a set or sequence of vectors, and AutoInt's interacting layer."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.core import Dense


class MultiHeadSelfAttention(tf.Module):
    """Scaled dot-product self-attention with `num_heads` heads of width `head_dim`.

    Each head h computes softmax(Q_h K_h^T / sqrt(head_dim)) V_h with Q_h, K_h, V_h linear maps
    (no bias) of the inputs; the heads are concatenated ([batch, seq, num_heads * head_dim])
    and, when `output_dim` is given, projected by a Dense layer to that width.
    """

    def __init__(self, input_dim: int, num_heads: int, head_dim: int,
                 output_dim: int | None = None, name: str | None = None):
        super().__init__(name=name)
        if num_heads < 1 or head_dim < 1:
            raise ValueError(f"num_heads and head_dim must be >= 1, got {num_heads}, {head_dim}")
        self.num_heads = num_heads
        self.head_dim = head_dim
        width = num_heads * head_dim
        with self.name_scope:
            self.query = Dense(input_dim, width, use_bias=False, name="query")
            self.key = Dense(input_dim, width, use_bias=False, name="key")
            self.value = Dense(input_dim, width, use_bias=False, name="value")
            self.projection = Dense(width, output_dim, name="output") if output_dim else None
        self.output_dim = output_dim or width

    def __call__(self, inputs: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
        """inputs [batch, seq, input_dim] -> [batch, seq, output_dim].

        mask: optional bool [batch, seq]; False marks padding. Padded positions are not attended
        to, and their own outputs are zero (so is every output of a row that is all padding).
        """
        q, k, v = (self._split_heads(layer(inputs)) for layer in (self.query, self.key, self.value))
        scores = tf.matmul(q, k, transpose_b=True) * (self.head_dim ** -0.5)  # [b, h, s, s]
        if mask is not None:
            keys = tf.cast(mask, tf.bool)[:, None, None, :]
            scores = tf.where(keys, scores, -1e9)
            weights = tf.nn.softmax(scores) * tf.cast(keys, scores.dtype)
        else:
            weights = tf.nn.softmax(scores)
        heads = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])  # [b, s, h, head_dim]
        shape = tf.shape(inputs)
        out = tf.reshape(heads, [shape[0], shape[1], self.num_heads * self.head_dim])
        if self.projection is not None:
            out = self.projection(out)
        if mask is not None:
            out *= tf.cast(mask, out.dtype)[:, :, None]
        return out

    def _split_heads(self, x: tf.Tensor) -> tf.Tensor:
        """[batch, seq, num_heads * head_dim] -> [batch, num_heads, seq, head_dim]."""
        shape = tf.shape(x)
        x = tf.reshape(x, [shape[0], shape[1], self.num_heads, self.head_dim])
        return tf.transpose(x, [0, 2, 1, 3])

    def kernels(self) -> list[tf.Variable]:
        """Query, key, value (and output projection) matrices, for L2 regularisation."""
        layers = [self.query, self.key, self.value, self.projection]
        return [layer.kernel for layer in layers if layer is not None]


class InteractingLayer(tf.Module):
    """AutoInt's interacting layer: ReLU(MultiHeadSelfAttention(x) + x W_res) over fields.

    [batch, fields, input_dim] -> [batch, fields, num_heads * head_dim].
    """

    def __init__(self, input_dim: int, num_heads: int, head_dim: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.attention = MultiHeadSelfAttention(input_dim, num_heads, head_dim, name="attention")
            self.residual = Dense(input_dim, self.attention.output_dim, use_bias=False,
                                  name="residual")
        self.output_dim = self.attention.output_dim

    def __call__(self, fields: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(self.attention(fields) + self.residual(fields))

    def kernels(self) -> list[tf.Variable]:
        """Attention and residual matrices, for L2 regularisation."""
        return self.attention.kernels() + [self.residual.kernel]

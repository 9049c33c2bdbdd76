"""Multi-head self-attention over a set or sequence of vectors, and AutoInt's interacting layer.

References: Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
https://arxiv.org/abs/1706.03762; Song et al., "AutoInt: Automatic Feature Interaction
Learning via Self-Attentive Neural Networks", CIKM 2019, https://arxiv.org/abs/1810.11921.

Head h computes softmax(Q_h K_h^T / sqrt(d)) V_h with Q_h = X W_Q^h, K_h = X W_K^h,
V_h = X W_V^h; the heads are concatenated (and optionally projected). Given a memory M, keys
and values come from it instead (K_h = M W_K^h, V_h = M W_V^h: cross-attention). AutoInt's
interacting layer is ReLU(MultiHeadSelfAttention(X) + X W_res).

Shapes: [batch, seq, input_dim] (and an optional bool mask [batch, seq]; an optional memory
[batch, mem, memory_dim] with its mask [batch, mem]) -> [batch, seq, num_heads * head_dim] (or
[batch, seq, output_dim] with a projection). The backbone component MultiHeadAttention
(Keras' name) takes [query, value] or [query, value, key] and projects the heads back to the
query's width.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("MultiHeadSelfAttention")
class MultiHeadSelfAttention(Layer):
    """Scaled dot-product self-attention with `num_heads` heads of width `head_dim`.

    Each head h computes softmax(Q_h K_h^T / sqrt(head_dim)) V_h with Q_h, K_h, V_h linear maps
    (no bias) of the inputs (K_h, V_h of the memory when one is given); the heads are
    concatenated ([batch, seq, num_heads * head_dim]) and, when `output_dim` is given, projected
    by a Dense layer to that width. In training, `attention_dropout` drops attention
    probabilities (whole attended positions, as BERT).
    """

    def __init__(self, input_dim: int, num_heads: int, head_dim: int,
                 output_dim: int | None = None, memory_dim: int | None = None,
                 use_bias: bool = False, attention_dropout: float = 0.0,
                 name: str | None = None):
        """memory_dim: width of the key / value sequence (default: input_dim);
        attention_dropout: dropout rate of the attention weights in training."""
        super().__init__(name=name)
        if num_heads < 1 or head_dim < 1:
            raise ValueError(f"num_heads and head_dim must be >= 1, got {num_heads}, {head_dim}")
        self.num_heads = num_heads
        self.head_dim = head_dim
        self._attention_dropout = attention_dropout
        width = num_heads * head_dim
        with self.name_scope:
            memory = memory_dim or input_dim
            self.query = Dense(input_dim, width, use_bias=use_bias, name="query")
            self.key = Dense(memory, width, use_bias=use_bias, name="key")
            self.value = Dense(memory, width, use_bias=use_bias, name="value")
            self.projection = Dense(width, output_dim, name="output") if output_dim else None
        self.output_dim = output_dim or width

    def __call__(self, inputs: tf.Tensor, mask: tf.Tensor | None = None,
                 memory: tf.Tensor | None = None, key: tf.Tensor | None = None,
                 memory_mask: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        """inputs [batch, seq, input_dim] -> [batch, seq, output_dim].

        mask: optional bool [batch, seq]; False marks padding. Padded positions are not attended
        to, and their own outputs are zero (so is every output of a row that is all padding).
        memory / key: the value / key sequence [batch, mem, memory_dim] of cross-attention
        (default: inputs; key defaults to memory); memory_mask (bool [batch, mem]) then marks
        its padding, and mask applies to the queries only (their outputs are zeroed).
        """
        values = inputs if memory is None else memory
        keys = values if key is None else key
        keys_mask = mask if memory is None else memory_mask
        q = self._split_heads(self.query(inputs))
        k, v = self._split_heads(self.key(keys)), self._split_heads(self.value(values))
        scores = tf.matmul(q, k, transpose_b=True) * (self.head_dim ** -0.5)  # [b, h, s, m]
        if keys_mask is not None:
            attended = tf.cast(keys_mask, tf.bool)[:, None, None, :]
            scores = tf.where(attended, scores, -1e9)
            weights = tf.nn.softmax(scores) * tf.cast(attended, scores.dtype)
        else:
            weights = tf.nn.softmax(scores)
        if training and self._attention_dropout > 0:
            weights = tf.nn.dropout(weights, rate=self._attention_dropout)
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


@register_layer("MultiHeadAttention")
class MultiHeadAttention(MultiHeadSelfAttention):
    """Keras' MultiHeadAttention as a backbone component: [query, value(, key)] (or one
    sequence: self-attention) -> [batch, seq, query width]."""

    def call_block(self, inputs: Sequence[tf.Tensor] | tf.Tensor, training: bool,  # noqa: ARG002
                   context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        if not isinstance(inputs, (list, tuple)):
            return self(inputs)
        query, value = inputs[0], inputs[1]
        return self(query, memory=value, key=inputs[2] if len(inputs) > 2 else None)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MultiHeadAttention:
        """num_heads, key_dim (required), value_dim (= key_dim), use_bias (true),
        output_shape (the query width)."""
        params.check_keys(("num_heads", "key_dim", "value_dim", "use_bias", "output_shape",
                           "dropout"))
        params.require("num_heads", "key_dim")
        shapes = list(input_shape) if isinstance(input_shape, (list, tuple)) else [input_shape]
        if len(shapes) > 3 or any(s is None or s.rank != 3 for s in shapes):
            raise ValueError(f"MultiHeadAttention takes [query, value(, key)] sequences "
                             f"[batch, seq, dim], got {input_shape}")
        key_dim = params.get("key_dim", 0, int)
        if params.get("value_dim", key_dim, int) != key_dim:
            raise params.error("value_dim must equal key_dim here", "value_dim")
        if params.get("dropout", 0.0) > 0:
            raise params.error("attention dropout is not supported", "dropout")
        query = int(shapes[0][-1])
        memory = int(shapes[1][-1]) if len(shapes) > 1 else None
        if len(shapes) > 2 and int(shapes[2][-1]) != memory:
            raise ValueError("the key and the value need one width here")
        return cls(query, params.get("num_heads", 0, int), key_dim,
                   output_dim=params.get("output_shape", query, int), memory_dim=memory,
                   use_bias=params.get("use_bias", True), name=name)


@register_layer("InteractingLayer")
class InteractingLayer(Layer):
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

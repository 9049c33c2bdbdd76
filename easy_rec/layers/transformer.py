"""Transformer encoder: blocks of self-attention + feed-forward, each with a residual
connection and layer norm, over padded sequences.

Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
https://arxiv.org/abs/1706.03762 (as used by BST, Chen et al. 2019, and BERT4Rec, Sun et al.
2019). Each post-norm block computes

    a = LayerNorm(x + Dropout(MultiHeadSelfAttention(x)))
    y = LayerNorm(a + Dropout(W_2 act(W_1 a + b_1) + b_2))

and the encoder is LayerNorm(tokens) followed by num_layers blocks.

Shapes: x [batch, len, dim] and a bool mask [batch, len] -> [batch, len, dim], zero on padding.
The backbone component TransformerBlock (EasyRec's) takes [x, mask].
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.attention import MultiHeadSelfAttention
from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.core import Dense, get_activation
from easy_rec.layers.norm import LayerNorm
from easy_rec.layers.registry import register_layer


@register_layer("TransformerBlock")
class TransformerBlock(Layer):
    """Post-norm transformer encoder block (Vaswani et al. 2017) over [batch, len, dim]:

        a = LayerNorm(x + Dropout(MultiHeadSelfAttention(x)))
        y = LayerNorm(a + Dropout(W_2 act(W_1 a + b_1) + b_2))

    Padding (mask False) is never attended to and its outputs are zero, so the outputs of real
    positions do not depend on what the padded positions hold.
    """

    def __init__(self, dim: int, num_heads: int, hidden_size: int, ffn_hidden_size: int,
                 dropout_ratio: float = 0.0, activation: str = "relu",
                 attention_dropout: float = 0.0, name: str | None = None):
        """attention_dropout: dropout of the attention probabilities (training only)."""
        super().__init__(name=name)
        if hidden_size % num_heads:
            raise ValueError(f"the attention width {hidden_size} must be a multiple of the "
                             f"number of heads {num_heads}")
        self._dropout = dropout_ratio
        self._activation = get_activation(activation)
        with self.name_scope:
            self.attention = MultiHeadSelfAttention(dim, num_heads, hidden_size // num_heads,
                                                    output_dim=dim,
                                                    attention_dropout=attention_dropout,
                                                    name="attention")
            self.attention_norm = LayerNorm(dim, name="attention_norm")
            self.ffn_hidden = Dense(dim, ffn_hidden_size, name="ffn_hidden")
            self.ffn_output = Dense(ffn_hidden_size, dim, name="ffn_output")
            self.ffn_norm = LayerNorm(dim, name="ffn_norm")

    def __call__(self, x: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        """x [batch, len, dim], mask [batch, len] bool -> [batch, len, dim]."""
        x = self.attention_norm(x + self._drop(self.attention(x, mask, training=training),
                                               training))
        hidden = self._activation(self.ffn_hidden(x))
        x = self.ffn_norm(x + self._drop(self.ffn_output(hidden), training))
        return x * tf.cast(mask, x.dtype)[:, :, None]

    def _drop(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        return tf.nn.dropout(x, rate=self._dropout) if training and self._dropout > 0 else x

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> TransformerBlock:
        """EasyRec's TransformerBlock: hidden_size (the input width), num_attention_heads,
        intermediate_size (hidden_size), hidden_act (relu), hidden_dropout_prob (0.1);
        input [x, mask]."""
        params.require("hidden_size", "num_attention_heads")
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or input_shape[0] is None or input_shape[0].rank != 3:
            raise ValueError(f"TransformerBlock takes [x [batch, len, dim], mask [batch, len]], "
                             f"got {input_shape}")
        dim, hidden = int(input_shape[0][-1]), params.get("hidden_size", 0, int)
        if dim != hidden:
            raise params.error(f"hidden_size {hidden} must be the input width {dim}",
                               "hidden_size")
        return cls(dim, params.get("num_attention_heads", 0, int), hidden,
                   params.get("intermediate_size", hidden, int),
                   params.get("hidden_dropout_prob", 0.1), params.get("hidden_act", "relu", str),
                   name=name)

    def call_block(self, inputs: Sequence[tf.Tensor], training: bool,
                   context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        x, mask = inputs
        return self(x, tf.cast(mask, tf.bool), training)


@register_layer("SequenceTransformer")
class TransformerEncoder(Layer):
    """LayerNorm of the input tokens (as BERT normalises its embeddings; skipped with
    normalize_input False, for tokens normalised by the caller), then a stack of
    TransformerBlocks over [batch, len, dim] with a padding mask."""

    def __init__(self, dim: int, num_layers: int, num_heads: int, hidden_size: int = 0,
                 ffn_hidden_size: int = 0, dropout_ratio: float = 0.0, activation: str = "gelu",
                 attention_dropout: float = 0.0, normalize_input: bool = True,
                 name: str | None = None):
        """hidden_size: total attention width (0: dim); ffn_hidden_size: 0 means 4 * dim."""
        super().__init__(name=name)
        if num_layers < 1:
            raise ValueError(f"a transformer encoder needs at least one layer, got {num_layers}")
        with self.name_scope:
            self.input_norm = LayerNorm(dim, name="input_norm") if normalize_input else None
            self.blocks = [
                TransformerBlock(dim, num_heads, hidden_size or dim, ffn_hidden_size or 4 * dim,
                                 dropout_ratio, activation, attention_dropout, name=f"block_{i}")
                for i in range(num_layers)]
        self.output_dim = dim

    def __call__(self, x: tf.Tensor, mask: tf.Tensor, training: bool = False) -> tf.Tensor:
        """x [batch, len, dim], mask [batch, len] bool -> [batch, len, dim], zero on padding."""
        if self.input_norm is not None:
            x = self.input_norm(x)
        for block in self.blocks:
            x = block(x, mask, training)
        return x

"""Building blocks of image-text models (CMBF, UNITER): segment embeddings and the cross-modal
attention tower.

SegmentEmbedding is BERT's embedding post-processing (Devlin et al., "BERT", NAACL 2019,
https://arxiv.org/abs/1810.04805) of one segment of tokens x_1..x_n:

    e_k = Dropout(LayerNorm(x_k + t + p_k))

with t the segment's token-type vector and p_k a learned position vector (both optional).

CrossModalBlock is one layer of CMBF's cross-modal fusion (Chen et al., "CMBF: Cross-Modal-Based
Fusion Recommendation Algorithm", Sensors 2021, https://www.mdpi.com/1424-8220/21/16/5275):
queries Q of one modality attend to the tokens M of the other, the result attends to itself,
then a feed-forward layer follows:

    c = MHA(Q, M)            s = MHA(c, c)          a = LayerNorm(c + Dropout(s))
    y = LayerNorm(a + Dropout(W_2 relu(W_1 a + b_1) + b_2))

(MHA without output projection, width num_heads * head_dim). CrossModalTower stacks such
layers for both directions: at each layer the image tokens attend to the text tokens of the
previous layer and vice versa.

Shapes: SegmentEmbedding [batch, n, dim] -> [batch, n, dim]; CrossModalBlock queries
[batch, n, query_dim] and memory [batch, m, memory_dim] -> [batch, n, num_heads * head_dim];
CrossModalTower (left [batch, n, l], right [batch, m, r]) -> ([batch, n, heads * left_head_dim],
[batch, m, heads * right_head_dim]).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.attention import MultiHeadSelfAttention
from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.norm import LayerNorm
from easy_rec.layers.position import PositionEmbedding
from easy_rec.layers.registry import register_layer


@register_layer("SegmentEmbedding")
class SegmentEmbedding(Layer):
    """Dropout(LayerNorm(x + token type vector + position vectors)) over one segment."""

    def __init__(self, dim: int, max_positions: int = 0, stddev: float = 0.02,
                 dropout_ratio: float = 0.0, name: str | None = None):
        """max_positions: rows of the position table (0: no position embedding); stddev: of
        the table's truncated-normal start."""
        super().__init__(name=name)
        self._dropout = dropout_ratio
        with self.name_scope:
            self.positions = (PositionEmbedding(max_positions, dim, stddev, name="positions")
                              if max_positions else None)
            self.norm = LayerNorm(dim, epsilon=1e-12, name="norm")

    def __call__(self, x: tf.Tensor, token_type: tf.Tensor | None = None,
                 training: bool = False) -> tf.Tensor:
        """x [batch, n, dim]; token_type: optional [dim] vector added to every token."""
        if token_type is not None:
            x += token_type
        if self.positions is not None:
            x += self.positions(tf.range(tf.shape(x)[1]))[None]
        x = self.norm(x)
        return tf.nn.dropout(x, rate=self._dropout) if training and self._dropout > 0 else x


@register_layer("CrossModalBlock")
class CrossModalBlock(Layer):
    """Cross-attention to the other modality, self-attention, feed-forward (module docstring)."""

    def __init__(self, query_dim: int, memory_dim: int, num_heads: int, head_dim: int,
                 intermediate_size: int = 0, dropout_ratio: float = 0.0,
                 attention_dropout: float = 0.0, name: str | None = None):
        """intermediate_size: width of the feed-forward layer (0: num_heads * head_dim)."""
        super().__init__(name=name)
        width = num_heads * head_dim
        self._dropout = dropout_ratio
        with self.name_scope:
            self.cross = MultiHeadSelfAttention(query_dim, num_heads, head_dim, memory_dim=memory_dim,
                                                attention_dropout=attention_dropout, name="cross")
            self.self_attention = MultiHeadSelfAttention(width, num_heads, head_dim,
                                                         attention_dropout=attention_dropout,
                                                         name="self")
            self.attention_norm = LayerNorm(width, epsilon=1e-12, name="attention_norm")
            self.ffn_hidden = Dense(width, intermediate_size or width, name="ffn_hidden")
            self.ffn_output = Dense(intermediate_size or width, width, name="ffn_output")
            self.ffn_norm = LayerNorm(width, epsilon=1e-12, name="ffn_norm")
        self.output_dim = width

    def __call__(self, queries: tf.Tensor, memory: tf.Tensor, query_mask: tf.Tensor | None = None,
                 memory_mask: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        """Masks are bool, False on padding (None: no padding)."""
        cross = self.cross(queries, memory=memory, memory_mask=memory_mask, training=training)
        attended = self.self_attention(cross, query_mask, training=training)
        x = self.attention_norm(cross + self._drop(attended, training))
        hidden = tf.nn.relu(self.ffn_hidden(x))
        return self.ffn_norm(x + self._drop(self.ffn_output(hidden), training))

    def _drop(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        return tf.nn.dropout(x, rate=self._dropout) if training and self._dropout > 0 else x


@register_layer("CrossModalTower")
class CrossModalTower(Layer):
    """`num_layers` pairs of CrossModalBlocks: left attends to right and right to left, each
    on the other's previous output. The feed-forward width is 4 x each side's output width."""

    def __init__(self, left_dim: int, right_dim: int, num_layers: int, num_heads: int,
                 left_head_dim: int, right_head_dim: int, dropout_ratio: float = 0.0,
                 attention_dropout: float = 0.0, name: str | None = None):
        super().__init__(name=name)
        self.left_blocks, self.right_blocks = [], []
        with self.name_scope:
            for i in range(num_layers):
                left = CrossModalBlock(left_dim, right_dim, num_heads, left_head_dim,
                                       4 * num_heads * left_head_dim, dropout_ratio,
                                       attention_dropout, name=f"left_to_right_{i}")
                right = CrossModalBlock(right_dim, left_dim, num_heads, right_head_dim,
                                        4 * num_heads * right_head_dim, dropout_ratio,
                                        attention_dropout, name=f"right_to_left_{i}")
                self.left_blocks.append(left)
                self.right_blocks.append(right)
                left_dim, right_dim = left.output_dim, right.output_dim
        self.left_dim, self.right_dim = left_dim, right_dim

    def __call__(self, left: tf.Tensor, right: tf.Tensor, left_mask: tf.Tensor | None = None,
                 right_mask: tf.Tensor | None = None, training: bool = False
                 ) -> tuple[tf.Tensor, tf.Tensor]:
        for left_block, right_block in zip(self.left_blocks, self.right_blocks):
            left, right = (left_block(left, right, left_mask, right_mask, training),
                           right_block(right, left, right_mask, left_mask, training))
        return left, right

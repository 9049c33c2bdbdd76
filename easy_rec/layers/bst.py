"""BST: a transformer over a behaviour sequence and the target item (EasyRec's BST component).

Reference: Chen et al., "Behavior Sequence Transformer for E-commerce Recommendation in
Alibaba", DLP-KDD 2019, https://arxiv.org/abs/1905.06874.

The sequence (and the target, placed first or last) is projected to hidden_size by a ReLU
dense layer when its width differs, learned position embeddings are added, and a transformer
encoder (easy_rec.layers.transformer) runs over the real elements (padding masked). The output
is the first position's vector, or every position's flattened (output_all_token_embeddings,
padded / cut to max_position_embeddings positions).

Shapes: (sequence [batch, len, dim], length [batch][, target [batch, dim]]) ->
[batch, hidden_size] (or [batch, positions * hidden_size]).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import Dense
from easy_rec.layers.position import PositionEmbedding
from easy_rec.layers.registry import register_layer
from easy_rec.layers.transformer import TransformerEncoder

TARGET_POSITIONS = ("head", "tail", "ignore")


@register_layer("BST")
class BST(Layer):
    """Transformer over [target, sequence] (or [sequence, target]); see the module docstring."""

    def __init__(self, seq_dim: int, hidden_size: int, num_layers: int, num_heads: int,
                 intermediate_size: int, max_positions: int, target_dim: int = 0,
                 target_position: str = "head", activation: str = "gelu",
                 dropout_ratio: float = 0.1, use_position_embeddings: bool = True,
                 output_all: bool = False, name: str | None = None):
        """max_positions: positions of the longest input, the target's included."""
        super().__init__(name=name)
        if target_position not in TARGET_POSITIONS:
            raise ValueError(f"target_item_position must be one of {TARGET_POSITIONS}, got "
                             f"{target_position!r}")
        if target_dim and target_dim != seq_dim and target_position != "ignore":
            raise ValueError(f"the target ({target_dim}) and the sequence ({seq_dim}) need one "
                             "embedding width")
        self.target_position = target_position if target_dim else "ignore"
        self.max_positions = max_positions
        self.output_all = output_all
        self.hidden_size = hidden_size
        with self.name_scope:
            self.projection = (Dense(seq_dim, hidden_size, activation="relu", name="seq_project")
                               if seq_dim != hidden_size else None)
            self.target_projection = (
                Dense(target_dim, hidden_size, activation="relu", name="target_project")
                if target_dim and target_dim != hidden_size and self.target_position != "ignore"
                else None)
            self.positions = (PositionEmbedding(max_positions, hidden_size, name="positions")
                              if use_position_embeddings else None)
            self.encoder = TransformerEncoder(hidden_size, num_layers, num_heads, hidden_size,
                                              intermediate_size, dropout_ratio, activation,
                                              name="transformer")

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:
        sequence, length = inputs[0], inputs[1]
        target = inputs[2] if len(inputs) > 2 else None
        mask = tf.sequence_mask(length, tf.shape(sequence)[1])
        if self.projection is not None:
            sequence = self.projection(sequence)
        if target is not None and self.target_position != "ignore":
            if self.target_projection is not None:
                target = self.target_projection(target)
            target, target_mask = target[:, None, :], tf.ones_like(mask[:, :1])
            first = self.target_position == "head"
            sequence = tf.concat([target, sequence] if first else [sequence, target], axis=1)
            mask = tf.concat([target_mask, mask] if first else [mask, target_mask], axis=1)
        if self.output_all:
            sequence, mask = _fit(sequence, self.max_positions), _fit(mask, self.max_positions)
        if self.positions is not None:
            sequence += self.positions(tf.range(tf.shape(sequence)[1]))[None]
        encoded = self.encoder(sequence, mask, training)
        if self.output_all:
            return tf.reshape(encoded, [-1, self.max_positions * self.hidden_size])
        return encoded[:, 0, :]

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> BST:
        """BSTEncoder parameters: hidden_size, num_hidden_layers, num_attention_heads,
        intermediate_size (required), hidden_act (gelu), hidden_dropout_prob (0.1),
        max_position_embeddings (512), use_position_embeddings (true),
        output_all_token_embeddings (true), target_item_position (head),
        reserve_target_position (true)."""
        params.require("hidden_size", "num_hidden_layers", "num_attention_heads",
                       "intermediate_size")
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError("BST takes (sequence, length[, target]): an input_layer with "
                             f"output_seq_and_normal_feature, got {input_shape}")
        target = input_shape[2] if len(input_shape) > 2 else None
        position = params.get("target_item_position", "head", str)
        joins = target is not None and position != "ignore"
        positions = params.get("max_position_embeddings", 512, int)
        if joins or params.get("reserve_target_position", True):
            positions += 1
        return cls(int(input_shape[0][-1]), params.get("hidden_size", 0, int),
                   params.get("num_hidden_layers", 0, int),
                   params.get("num_attention_heads", 0, int),
                   params.get("intermediate_size", 0, int), positions,
                   target_dim=int(target[-1]) if target is not None else 0,
                   target_position=position, activation=params.get("hidden_act", "gelu", str),
                   dropout_ratio=params.get("hidden_dropout_prob", 0.1),
                   use_position_embeddings=params.get("use_position_embeddings", True),
                   output_all=params.get("output_all_token_embeddings", True), name=name)



def _fit(values: tf.Tensor, positions: int) -> tf.Tensor:
    """values [batch, len, ...] padded with zeros / cut to `positions` along axis 1."""
    values = values[:, :positions]
    pad = positions - tf.shape(values)[1]
    paddings = [[0, 0], [0, pad]] + [[0, 0]] * (values.shape.rank - 2)
    return tf.pad(values, paddings)

"""MaskNet's MaskBlock: an instance-guided mask multiplied into layer-normalised inputs.

Reference: Wang et al., "MaskNet: Introducing Feature-Wise Multiplication to CTR Ranking
Models by Instance-Guided Mask", DLP-KDD 2021, https://arxiv.org/abs/2102.07619.

    mask = W_2 relu(W_1 m + b_1) + b_2,   y = relu(LN(W_o (mask * LN(x))))

(without an output layer y = mask * LN(x)).

Shapes: inputs [batch, input_dim], mask input [batch, mask_input_dim] -> [batch, output_size]
(or [batch, input_dim] without an output layer).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.norm import LayerNorm
from easy_rec.layers.registry import register_layer


@register_layer("MaskBlock")
class MaskBlock(Layer):
    """One MaskBlock (Wang et al. 2021).

    The mask comes from the full feature embedding m (the "instance"): a two-layer MLP,
    mask = W2 relu(W1 m + b1) + b2, whose output width equals the input's. W1 maps to
    aggregation_size units; with projection_dim it is factorised as a projection to
    projection_dim units (no bias) followed by W1. The block multiplies the mask into its
    input x, layer-normalised if input_layer_norm, and with output_size > 0 returns
    relu(LN(W_o (mask * x))); with output_size 0 it returns mask * x.
    """

    def __init__(self, input_dim: int, mask_input_dim: int, aggregation_size: int,
                 output_size: int = 0, input_layer_norm: bool = True, projection_dim: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        if aggregation_size < 1:
            raise ValueError(f"aggregation_size must be >= 1, got {aggregation_size}")
        with self.name_scope:
            self.input_norm = LayerNorm(input_dim, name="input_ln") if input_layer_norm else None
            self.projection = (Dense(mask_input_dim, projection_dim, use_bias=False,
                                     name="projection") if projection_dim else None)
            self.aggregation = Dense(projection_dim or mask_input_dim, aggregation_size,
                                     name="aggregation")
            self.mask = Dense(aggregation_size, input_dim, name="mask")
            self.output_layer = (Dense(input_dim, output_size, use_bias=False, name="output")
                                 if output_size else None)
            self.output_norm = LayerNorm(output_size, name="output_ln") if output_size else None
        self.output_dim = output_size or input_dim

    def __call__(self, inputs: tf.Tensor, mask_input: tf.Tensor) -> tf.Tensor:
        """inputs [batch, input_dim] (embedding or previous block), mask_input [batch, mask_input_dim]."""
        if self.projection is not None:
            mask_input = self.projection(mask_input)
        mask = self.mask(tf.nn.relu(self.aggregation(mask_input)))
        if self.input_norm is not None:
            inputs = self.input_norm(inputs)
        masked = mask * inputs
        if self.output_layer is None:
            return masked
        return tf.nn.relu(self.output_norm(self.output_layer(masked)))

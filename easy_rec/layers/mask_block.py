"""MaskNet's MaskBlock: an instance-guided mask multiplied into layer-normalised inputs.

Reference: Wang et al., "MaskNet: Introducing Feature-Wise Multiplication to CTR Ranking
Models by Instance-Guided Mask", DLP-KDD 2021, https://arxiv.org/abs/2102.07619.

    mask = W_2 relu(W_1 m + b_1) + b_2,   y = relu(LN(W_o (mask * LN(x))))

(without an output layer y = mask * LN(x)).

MaskNet (the backbone component) layer-normalises its input, then runs MaskBlocks in parallel
(each masks the input; outputs concatenated) or in series (each masks the previous output, the
mask always from the input), then an optional MLP.

Shapes: inputs [batch, input_dim], mask input [batch, mask_input_dim] -> [batch, output_size]
(or [batch, input_dim] without an output layer). The MaskBlock component takes [inputs,
mask_input] or one tensor (used as both).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.core import MLP, Dense, mlp_params
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

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MaskBlock:
        """EasyRec's MaskBlock component: reduction_factor (aggregation = factor * mask input
        width) or aggregation_size, output_size (none), input_layer_norm (false),
        projection_dim (none)."""
        shapes = input_shape[:2] if isinstance(input_shape, (list, tuple)) else [input_shape] * 2
        if len(shapes) < 2 or any(s is None or s.rank != 2 for s in shapes):
            raise ValueError(f"MaskBlock takes [inputs, mask_input] or one tensor of shape "
                             f"[batch, dim], got {input_shape}")
        input_dim, mask_dim = int(shapes[0][-1]), int(shapes[1][-1])
        return cls(input_dim, mask_dim, aggregation_width(params, mask_dim),
                   params.get("output_size", 0, int), params.get("input_layer_norm", False),
                   params.get("projection_dim", 0, int), name=name)

    def call_block(self, inputs: Any, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        net, mask_input = inputs[:2] if isinstance(inputs, (list, tuple)) else (inputs, inputs)
        return self(net, mask_input)


def aggregation_width(params: Params, mask_input_dim: int) -> int:
    """Hidden width of a MaskBlock's mask MLP: reduction_factor * mask input width, or
    aggregation_size."""
    if params.has("reduction_factor"):
        return int(mask_input_dim * params.get("reduction_factor", 0.0))
    params.require("aggregation_size")
    return params.get("aggregation_size", 0, int)


@register_layer("MaskNet")
class MaskNet(Layer):
    """MaskBlocks over one input, in parallel or in series, then an optional MLP (EasyRec's
    MaskNet component). `blocks`: MaskBlock keyword arguments (aggregation_size,
    output_size, input_layer_norm, projection_dim) per block."""

    def __init__(self, input_dim: int, blocks: list[dict[str, Any]], use_parallel: bool = True,
                 mlp: dict[str, Any] | None = None, input_layer_norm: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if not blocks:
            raise ValueError("MaskNet needs at least one mask block")
        self.use_parallel = use_parallel
        with self.name_scope:
            self.input_norm = LayerNorm(input_dim, name="input_ln") if input_layer_norm else None
            self.blocks = []
            width = input_dim
            for i, kwargs in enumerate(blocks):
                block_input = input_dim if use_parallel else width
                self.blocks.append(MaskBlock(block_input, input_dim, name=f"block_{i}", **kwargs))
                width = self.blocks[-1].output_dim
            if use_parallel:
                width = sum(block.output_dim for block in self.blocks)
            self.mlp = MLP(width, **mlp, name="mlp") if mlp else None
        self.output_dim = self.mlp.output_dim if self.mlp else width

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if self.input_norm is not None:
            x = self.input_norm(x)
        if self.use_parallel:
            hidden = tf.concat([block(x, x) for block in self.blocks], axis=-1)
        else:
            hidden = x
            for block in self.blocks:
                hidden = block(hidden, x)
        return self.mlp(hidden, training) if self.mlp is not None else hidden

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MaskNet:
        """mask_blocks (MaskBlock parameters each), use_parallel (true), mlp (none),
        input_layer_norm (true)."""
        if not isinstance(input_shape, tf.TensorShape) or input_shape.rank != 2:
            raise ValueError(f"MaskNet takes one [batch, dim] tensor, got {input_shape}")
        dim = int(input_shape[-1])
        blocks = [{"aggregation_size": aggregation_width(block, dim),
                   "output_size": block.get("output_size", 0, int),
                   "input_layer_norm": block.get("input_layer_norm", False),
                   "projection_dim": block.get("projection_dim", 0, int)}
                  for block in params.get("mask_blocks", [])]
        mlp = mlp_params(params.child("mlp")) if params.has("mlp") else None
        return cls(dim, blocks, params.get("use_parallel", True), mlp,
                   params.get("input_layer_norm", True), name=name)

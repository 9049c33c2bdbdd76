"""Layer normalisation as a plain tf.Module.

Reference: Ba et al., "Layer Normalization", 2016, https://arxiv.org/abs/1607.06450.

    y = gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta   (statistics over the last axis)

Shapes: [..., dim] -> [..., dim].
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.registry import register_layer


@register_layer("LayerNormalization")
class LayerNorm(Layer):
    """Normalises each example over its last axis, then scales and shifts it (Ba et al. 2016).

    y = gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta, with mean and variance taken
    over the last axis of each example (no batch statistics, so training equals inference).
    """

    def __init__(self, dim: int, epsilon: float = 1e-6, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.gamma = tf.Variable(tf.ones([dim]), name="gamma")
            self.beta = tf.Variable(tf.zeros([dim]), name="beta")
        self._epsilon = epsilon

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, self._epsilon)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> LayerNorm:
        """Keras' LayerNormalization over the last axis; epsilon (0.001)."""
        params.check_keys(("axis", "epsilon"))
        if params.get("axis", -1, int) != -1:
            raise params.error("only axis -1 (the last) is supported", "axis")
        if not isinstance(input_shape, tf.TensorShape) or input_shape[-1] is None:
            raise ValueError(f"LayerNormalization takes one tensor, got {input_shape}")
        return cls(int(input_shape[-1]), epsilon=params.get("epsilon", 1e-3), name=name)

    def call_block(self, inputs: tf.Tensor, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        return self(inputs)

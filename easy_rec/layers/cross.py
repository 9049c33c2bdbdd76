"""Cross networks of DCN (vector weights) and DCN-V2 (full-rank or low-rank matrix weights).

References: Wang et al., "Deep & Cross Network for Ad Click Predictions", ADKDD 2017,
https://arxiv.org/abs/1708.05123; Wang et al., "DCN V2: Improved Deep & Cross Network and
Practical Lessons for Web-scale Learning to Rank Systems", WWW 2021,
https://arxiv.org/abs/2008.13535.

    DCN:    x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l          (w_l, b_l of width dim)
    DCN-V2: x_{l+1} = x_0 * (W_l x_l + b_l) + x_l            (W_l = U_l V_l^T when low rank)

The backbone component Cross is one DCN-V2 layer (EasyRec's), applied to [x_0, x_l]:
x_{l+1} = x_0 * (act(W x_l + b) + diag_scale * x_l) + x_l; a recurrent block stacks it, and
CrossStack stacks it for DCN's `cross_tower { version: 2 }`.

Shapes: [batch, dim] -> [batch, dim].
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("CrossNet")
class CrossNet(Layer):
    """DCN cross layers: x_{l+1} = x0 * (x_l . w_l) + b_l + x_l, with w_l, b_l of width dim.

    Each layer adds one degree of explicit feature crossing at 2 * dim parameters; the
    output has the input's width. As in EasyRec, w_l and b_l both start Glorot-uniform
    (limit sqrt(6 / (dim + dim))) and are no kernels: l2_regularization leaves them alone.
    """

    def __init__(self, dim: int, num_layers: int, name: str | None = None):
        super().__init__(name=name)
        limit = (3.0 / dim) ** 0.5
        with self.name_scope:
            self.weights = [tf.Variable(tf.random.uniform([dim], -limit, limit), name=f"w_{i}")
                            for i in range(num_layers)]
            self.biases = [tf.Variable(tf.random.uniform([dim], -limit, limit), name=f"b_{i}")
                           for i in range(num_layers)]
        self.output_dim = dim

    def __call__(self, x0: tf.Tensor) -> tf.Tensor:
        """[batch, dim] -> [batch, dim]."""
        x = x0
        for weight, bias in zip(self.weights, self.biases):
            x = x0 * tf.reduce_sum(x * weight, axis=1, keepdims=True) + bias + x
        return x


@register_layer("LowRankDense")
class LowRankDense(Layer):
    """y = x V U^T + b: a dim -> dim linear map of rank at most `rank` (V, U of shape [dim, rank])."""

    def __init__(self, dim: int, rank: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.down = Dense(dim, rank, use_bias=False, name="v")
            self.up = Dense(rank, dim, name="u")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self.up(self.down(x))


@register_layer("CrossNetV2")
class CrossNetV2(Layer):
    """DCN-V2 cross layers: x_{l+1} = x0 * (W_l x_l + b_l) + x_l.

    `low_rank` 0 gives a full-rank W_l ([dim, dim]); r > 0 factors it as U_l V_l^T with
    U_l, V_l of shape [dim, r].
    """

    def __init__(self, dim: int, num_layers: int, low_rank: int = 0, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [
                LowRankDense(dim, low_rank, name=f"cross_{i}") if low_rank > 0
                else Dense(dim, dim, name=f"cross_{i}")
                for i in range(num_layers)
            ]
        self.output_dim = dim

    def __call__(self, x0: tf.Tensor) -> tf.Tensor:
        """[batch, dim] -> [batch, dim]."""
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


@register_layer("Cross")
class Cross(Layer):
    """One DCN-V2 cross layer on [x0, x] (or x, meaning [x, x]):
    y = x0 * (act(W x + b) + diag_scale * x) + x, W [dim, dim] or U V (projection_dim)."""

    def __init__(self, dim: int, projection_dim: int = 0, diag_scale: float = 0.0,
                 use_bias: bool = True, preactivation: str | None = None,
                 initializer: str = "truncated_normal", name: str | None = None):
        super().__init__(name=name)
        if diag_scale < 0:
            raise ValueError(f"diag_scale must be >= 0, got {diag_scale}")
        self.diag_scale = diag_scale
        with self.name_scope:
            self.down = (Dense(dim, projection_dim, use_bias=False, initializer=initializer,
                               name="u") if projection_dim else None)
            self.dense = Dense(projection_dim or dim, dim, use_bias=use_bias,
                               activation=preactivation, initializer=initializer, name="dense")

    def __call__(self, inputs: Any, training: bool = False) -> tf.Tensor:  # noqa: ARG002
        x0, x = inputs if isinstance(inputs, (list, tuple)) else (inputs, inputs)
        product = self.dense(self.down(x) if self.down is not None else x)
        if self.diag_scale:
            product += self.diag_scale * x
        return x0 * product + x

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Cross:
        """projection_dim (full rank), diag_scale (0), use_bias (true), preactivation (none),
        kernel_initializer (truncated_normal)."""
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) else input_shape
        if not isinstance(shape, tf.TensorShape) or shape.rank != 2 or shape[-1] is None:
            raise ValueError(f"Cross takes [x0, x] or x of shape [batch, dim], got {input_shape}")
        return cls(int(shape[-1]), params.get("projection_dim", 0, int),
                   params.get("diag_scale", 0.0), params.get("use_bias", True),
                   params.get("preactivation", None, str),
                   params.get("kernel_initializer", "truncated_normal", str), name=name)


@register_layer("CrossStack")
class CrossStack(Layer):
    """`num_layers` Cross layers over a fixed x0: x_{l+1} = Cross_l([x0, x_l]), x_0 = input.

    The same network as a backbone `recurrent { fixed_input_index: 0 keras_layer Cross }`
    block; every layer has its own weights. Shapes: [batch, dim] -> [batch, dim].
    An easy_rec component name (EasyRec spells it as that recurrent block).
    """

    def __init__(self, dim: int, num_layers: int, name: str | None = None, **cross_options: Any):
        super().__init__(name=name)
        with self.name_scope:
            self.layers = [Cross(dim, name=f"cross_{i}", **cross_options)
                           for i in range(num_layers)]
        self.output_dim = dim

    def __call__(self, x0: tf.Tensor, training: bool = False) -> tf.Tensor:  # noqa: ARG002
        """[batch, dim] -> [batch, dim]."""
        x = x0
        for layer in self.layers:
            x = layer([x0, x])
        return x

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> CrossStack:
        """num_layers (required), and each layer's Cross parameters: projection_dim,
        diag_scale, use_bias, preactivation, kernel_initializer."""
        if not isinstance(input_shape, tf.TensorShape) or input_shape.rank != 2:
            raise ValueError(f"CrossStack takes x of shape [batch, dim], got {input_shape}")
        num_layers = params.get("num_layers", 0, int)
        if num_layers < 1:
            raise params.error("num_layers must be >= 1", "num_layers")
        return cls(int(input_shape[-1]), num_layers,
                   projection_dim=params.get("projection_dim", 0, int),
                   diag_scale=params.get("diag_scale", 0.0),
                   use_bias=params.get("use_bias", True),
                   preactivation=params.get("preactivation", None, str),
                   initializer=params.get("kernel_initializer", "truncated_normal", str),
                   name=name)

"""AITM tower: a task tower that takes in information transferred from the preceding tasks.

Reference: Xi et al., "Modeling the Sequential Dependence among Audience Multi-step
Conversions with Multi-task Learning in Targeted Display Advertising", KDD 2021,
https://arxiv.org/abs/2105.08489 (EasyRec's `AITMTower` component).

The inputs are this task's tower output t_0 and the outputs t_1..t_m of the tasks it depends
on. Each dependency is (with stop_gradient) cut off from this task's gradient and passed
through the transfer MLP; then every input i gets its own query / key / value projections of
width d (project_dim, or the width of t_0) and the output is this task's row of a scaled
dot-product self-attention over the m + 1 vectors:

    u_0 = t_0,  u_i = transfer(stop_gradient(t_i)),   q_i = u_i W_Q^i + b, k_i, v_i alike
    output = sum_j softmax_j(q_0 . k_j / sqrt(d)) v_j

Shapes: a list of [batch, dim_i] tensors -> [batch, d]; a single tensor is returned as is.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.dot_product_attention import DotProductAttention
from easy_rec.layers.registry import register_layer


@register_layer("AITMTower")
class AITMTower(Layer):
    """Attention of this task's tower over itself and the transferred preceding towers.

    input_dims: the widths of [t_0, t_1, ...] (one entry: a pass-through tower).
    transfer: the transfer MLP applied to every dependency (one layer shared by all), or None.
    """

    def __init__(self, input_dims: Sequence[int], project_dim: int | None = None,
                 stop_gradient: bool = True, transfer: MLP | None = None,
                 name: str | None = None):
        super().__init__(name=name)
        self._stop_gradient = stop_gradient
        dim = project_dim or int(input_dims[0])
        widths = [int(input_dims[0])] + [transfer.output_dim if transfer else int(d)
                                         for d in input_dims[1:]]
        self.queries, self.keys, self.values = [], [], []
        with self.name_scope:
            self.transfer = transfer
            if len(input_dims) > 1:
                for i, width in enumerate(widths):
                    self.queries.append(Dense(width, dim, name=f"query_{i}"))
                    self.keys.append(Dense(width, dim, name=f"key_{i}"))
                    self.values.append(Dense(width, dim, name=f"value_{i}"))
            self.attention = DotProductAttention(scale_by_dim=True, name="attention")
        self.output_dim = dim if len(input_dims) > 1 else int(input_dims[0])

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> AITMTower:
        shapes = list(input_shape) if isinstance(input_shape, (list, tuple)) else [input_shape]
        dims = [int(shape[-1]) for shape in shapes]
        transfer = None
        if params.has("transfer_mlp") and len(dims) > 1:
            if len(set(dims[1:])) > 1:
                raise params.error(f"the transfer MLP is shared by every dependency, whose "
                                   f"widths differ: {dims[1:]}", "transfer_mlp")
            transfer = MLP.from_params(params.child("transfer_mlp"), shapes[1], "transfer")
        return cls(dims, project_dim=params.get("project_dim", None, int),
                   stop_gradient=params.get("stop_gradient", True), transfer=transfer,
                   name=name)

    def __call__(self, inputs: tf.Tensor | Sequence[tf.Tensor],
                 training: bool = False) -> tf.Tensor:
        """[t_0, t_1, ...] -> [batch, d]; a single tensor passes through."""
        if not isinstance(inputs, (list, tuple)):
            return inputs
        transferred = [inputs[0]]
        for tower in inputs[1:]:
            dependency = tf.stop_gradient(tower) if self._stop_gradient else tower
            if self.transfer is not None:
                dependency = self.transfer(dependency, training)
            transferred.append(dependency)
        query, key, value = (tf.stack([layer(u) for layer, u in zip(layers, transferred)], axis=1)
                             for layers in (self.queries, self.keys, self.values))
        return self.attention([query, value, key], training=training)[:, 0, :]

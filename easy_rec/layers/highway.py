"""Highway network: gated mixing of a non-linear transform with its input.

Reference: Srivastava et al., "Highway Networks", 2015, https://arxiv.org/abs/1505.00387
(EasyRec's `Highway` component, used to fine-tune pretrained embeddings incrementally).

With x the input (first projected linearly to emb_size when its width differs), each layer
computes

    t = sigmoid(x W_T + b_T),   h = dropout(act(x W_H + b_H)),   x <- t * h + (1 - t) * x

where b_T starts at init_gate_bias (-3 by default: the gate begins nearly closed, so the
layer starts close to the identity).

Shapes: [batch, input_dim] -> [batch, emb_size] (or [batch, input_dim] without emb_size).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import Dense, get_activation
from easy_rec.layers.registry import register_layer


@register_layer("Highway")
class Highway(Layer):
    """num_layers highway layers over [batch, input_dim] (see the module docstring).

    emb_size: the width the input is projected to (Dense with bias) when it differs from
    input_dim; None keeps the input width. activation: of the transform branch ('relu' as
    EasyRec's HighWayTower default). dropout_rate applies to the transform branch in training.
    """

    def __init__(self, input_dim: int, emb_size: int | None = None, num_layers: int = 1,
                 activation: str = "relu", dropout_rate: float = 0.0,
                 init_gate_bias: float = -3.0, name: str | None = None):
        super().__init__(name=name)
        if num_layers < 1:
            raise ValueError(f"Highway needs num_layers >= 1, got {num_layers}")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        dim = emb_size or input_dim
        self._activation = get_activation(activation)
        self._dropout = dropout_rate
        with self.name_scope:
            self.projection = (Dense(input_dim, dim, name="input_projection")
                               if dim != input_dim else None)
            self.gates = [Dense(dim, dim, name=f"gate_{i}") for i in range(num_layers)]
            self.transforms = [Dense(dim, dim, name=f"transform_{i}") for i in range(num_layers)]
            for gate in self.gates:
                gate.bias.assign(tf.fill([dim], float(init_gate_bias)))
        self.output_dim = dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Highway:
        return cls(int(input_shape[-1]), emb_size=params.get("emb_size", None, int),
                   num_layers=params.get("num_layers", 1),
                   activation=params.get("activation", "relu"),
                   dropout_rate=params.get("dropout_rate", 0.0),
                   init_gate_bias=params.get("init_gate_bias", -3.0), name=name)

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[batch, input_dim] -> [batch, output_dim]."""
        x = self.projection(inputs) if self.projection is not None else inputs
        for gate_layer, transform in zip(self.gates, self.transforms):
            gate = tf.sigmoid(gate_layer(x))
            h = self._activation(transform(x))
            if training and self._dropout > 0:
                h = tf.nn.dropout(h, rate=self._dropout)
            x = gate * h + (1.0 - gate) * x
        return x

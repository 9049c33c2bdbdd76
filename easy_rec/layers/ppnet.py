"""PPNet (PEPNet's parameter personalisation): an MLP whose layers are scaled by gates computed
from personalisation features.

Reference: Chang et al., "PEPNet: Parameter and Embedding Personalized Network for Infusing
with Personalized Prior Information", KDD 2023, https://arxiv.org/abs/2302.01115 (EasyRec's
`PPNet` component).

The inputs are x (the MLP input) and p (the personalisation features, e.g. user and item
ids). The gate input is g = [stop_gradient(x), p] (full_gate_input) or p. Each gate is a small
network, gate(g) = 2 * sigmoid(W_2 drop(act(BN(W_1 g)))), so 1 is its neutral value. With
layers L_1..L_n of the MLP:

    eager:  x <- L_i(x * gate_i(g))      (each layer's input is gated)
    lazy:   x <- L_i(x) * gate_i(g)      (each layer's output is gated)

Shapes: [x [batch, input_dim], p [batch, gate_input_dim]] -> [batch, hidden_units[-1]].

Defaults are EasyRec's effective ones: the MLP options of EasyRec's MLP component (see
core.mlp_params: no bias, batch norm before the activation, ReLU also on the last layer,
he_uniform kernels); gates without batch norm, he_uniform kernels. `mode` defaults to 'eager'
with the typed `ppnet {}` message and to 'lazy' with st_params (EasyRec reads the proto's
string default only from the typed message).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import MLP, Dense, mlp_params
from easy_rec.layers.registry import register_layer

MODES = ("eager", "lazy")


@register_layer("GateNN")
class GateNN(Layer):
    """PPNet's gate: 2 * sigmoid(W_2 drop(act(BN(W_1 g)))), one weight per gated unit in (0, 2).

    The dense layers have a bias only without batch norm, as in EasyRec.
    """

    def __init__(self, input_dim: int, output_dim: int, hidden_dim: int | None = None,
                 activation: str = "relu", use_bn: bool = False, dropout_rate: float = 0.0,
                 initializer: str = "he_uniform", name: str | None = None):
        super().__init__(name=name)
        hidden = hidden_dim or output_dim
        with self.name_scope:
            self.hidden = MLP(input_dim, [hidden], activation=activation, use_bn=use_bn,
                              dropout_ratio=[dropout_rate] if dropout_rate else (),
                              initializer=initializer, name="hidden")
            self.weight = Dense(hidden, output_dim, use_bias=not use_bn, initializer=initializer,
                                name="weight")
        self.output_dim = output_dim

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return 2.0 * tf.sigmoid(self.weight(self.hidden(inputs, training)))


def layer_options(mlp: Mapping[str, Any], index: int) -> dict[str, Any]:
    """MLP keyword arguments for layer `index` of `mlp` (MLP keyword arguments with
    hidden_units) on its own: the last layer takes the final_* options, dropout_ratio[index]
    (missing: none) its dropout."""
    options = {key: mlp[key] for key in ("activation", "use_bn", "use_bias", "initializer",
                                         "use_bn_after_activation") if key in mlp}
    if index == len(mlp["hidden_units"]) - 1:
        for key, final in (("activation", "final_activation"), ("use_bn", "use_final_bn"),
                           ("use_bias", "use_final_bias")):
            if mlp.get(final) is not None:
                options[key] = mlp[final]
    dropout = list(mlp.get("dropout_ratio", ()))
    rate = dropout[index] if index < len(dropout) else 0.0
    options["dropout_ratio"] = [rate] if rate else []
    return options


@register_layer("PPNet")
class PPNet(Layer):
    """MLP over x with every layer's input (eager) or output (lazy) scaled by a gate on g.

    mlp: MLP keyword arguments with hidden_units (e.g. core.mlp_params of EasyRec's MLP
    message); gate: GateNN keyword arguments (hidden_dim, activation, use_bn, dropout_rate).
    """

    def __init__(self, input_dim: int, gate_input_dim: int, mlp: Mapping[str, Any],
                 mode: str = "eager", full_gate_input: bool = True,
                 gate: Mapping[str, Any] | None = None, name: str | None = None):
        super().__init__(name=name)
        if mode not in MODES:
            raise ValueError(f"PPNet mode must be one of {MODES}, got {mode!r}")
        hidden_units = list(mlp.get("hidden_units", ()))
        if not hidden_units:
            raise ValueError("PPNet needs at least one hidden layer")
        self._eager = mode == "eager"
        self._full_gate_input = full_gate_input
        gate_dim = gate_input_dim + (input_dim if full_gate_input else 0)
        gated_widths = [input_dim, *hidden_units[:-1]] if self._eager else hidden_units
        self.layers, self.gates = [], []
        with self.name_scope:
            dim = input_dim
            for i, units in enumerate(hidden_units):
                self.layers.append(MLP(dim, [units], **layer_options(mlp, i), name=f"layer_{i}"))
                self.gates.append(GateNN(gate_dim, gated_widths[i], **(gate or {}),
                                         name=f"gate_{i}"))
                dim = units
        self.output_dim = dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> PPNet:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise params.error("PPNet takes two inputs: [mlp input, gate input]")
        params.require("mlp")
        gate = params.child("gate_params")
        input_dim, gate_input_dim = (int(shape[-1]) for shape in input_shape)
        mode = params.get("mode", "eager" if params.message is not None else "lazy")
        if gate.has("output_dim") and mode == "eager" and \
                gate.get("output_dim", 0, int) != input_dim:
            raise gate.error(f"the first gate of eager mode scales the MLP input: output_dim "
                             f"must be its width {input_dim}", "output_dim")
        return cls(input_dim, gate_input_dim, mlp_params(params.child("mlp")), mode=mode,
                   full_gate_input=params.get("full_gate_input", True),
                   gate={"hidden_dim": gate.get("hidden_dim", None, int),
                         "activation": gate.get("activation", "relu", str),
                         "use_bn": gate.get("use_bn", False),
                         "dropout_rate": gate.get("dropout_rate", 0.0)},
                   name=name)

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:
        """[x [batch, input_dim], p [batch, gate_input_dim]] -> [batch, output_dim]."""
        x, gate_input = inputs
        if self._full_gate_input:
            gate_input = tf.concat([tf.stop_gradient(x), gate_input], axis=-1)
        for layer, gate in zip(self.layers, self.gates):
            if self._eager:
                x = layer(x * gate(gate_input, training), training)
            else:
                x = layer(x, training) * gate(gate_input, training)
        return x

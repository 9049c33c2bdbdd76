"""Weightless components of EasyRec backbones: Keras' Dropout, Activation, Add, Multiply and
Concatenate (by their Keras names and parameters), and EasyRec's Gate.

    Dropout:      y = x * m / (1 - rate), m ~ Bernoulli(1 - rate), in training only
    Activation:   y = act(x)
    Add:          y = sum_i x_i;      Multiply: y = prod_i x_i   (same shapes)
    Concatenate:  y = concat(x_1, ..., x_n) along `axis`
    Gate:         y = sum_{j != w} g[:, k(j)] * x_j, g = x_w the weights input (weight_index w),
                  k(j) the position of x_j among the other inputs

Shapes: Dropout / Activation keep the shape; Add / Multiply / Concatenate take a list of
tensors; Gate takes [g [batch, n], x_1 .. x_n [batch, dim]] (g anywhere) -> [batch, dim].
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import get_activation
from easy_rec.layers.registry import register_layer


def _tensor_list(inputs: object, what: str) -> list[tf.Tensor]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"{what} takes a list of at least two tensors (set "
                         "merge_inputs_into_list: true on a block with several inputs)")
    return list(inputs)


@register_layer("Dropout")
class Dropout(Layer):
    """Keras' Dropout: zeroes a `rate` share of the values in training, rescaling the rest."""

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name=name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.nn.dropout(x, rate=self.rate) if training and self.rate > 0 else x

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Dropout:  # noqa: ARG003
        params.check_keys(("rate",))
        params.require("rate")
        return cls(params.get("rate", 0.0), name=name)


@register_layer("Activation")
class Activation(Layer):
    """Keras' Activation: an activation function by name (relu, sigmoid, tf.nn.gelu, ...)."""

    def __init__(self, activation: str, name: str | None = None):
        super().__init__(name=name)
        self._activation = get_activation(activation)

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:  # noqa: ARG002
        return self._activation(x)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Activation:  # noqa: ARG003
        params.check_keys(("activation",))
        params.require("activation")
        return cls(params.get("activation", "linear", str), name=name)


@register_layer("Add")
class Add(Layer):
    """Keras' Add: the element-wise sum of a list of tensors of one shape."""

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:  # noqa: ARG002
        return tf.add_n(_tensor_list(inputs, "Add"))

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Add:  # noqa: ARG003
        params.check_keys(())
        return cls(name=name)


@register_layer("Multiply")
class Multiply(Layer):
    """Keras' Multiply: the element-wise product of a list of tensors of one shape."""

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:  # noqa: ARG002
        values = _tensor_list(inputs, "Multiply")
        product = values[0]
        for value in values[1:]:
            product = product * value
        return product

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Multiply:  # noqa: ARG003
        params.check_keys(())
        return cls(name=name)


@register_layer("Concatenate")
class Concatenate(Layer):
    """Keras' Concatenate: a list of tensors joined along `axis` (default -1)."""

    def __init__(self, axis: int = -1, name: str | None = None):
        super().__init__(name=name)
        self.axis = axis

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:  # noqa: ARG002
        return tf.concat(_tensor_list(inputs, "Concatenate"), axis=self.axis)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Concatenate:  # noqa: ARG003
        params.check_keys(("axis",))
        return cls(params.get("axis", -1), name=name)


@register_layer("Gate")
class Gate(Layer):
    """EasyRec's Gate: a weighted sum of inputs, the weights being another input.

    inputs [x_0 .. x_n]; x_w (weight_index w, default 0) is [batch, n] and weights the other
    inputs in their order: y = sum_k x_w[:, k] * (k-th other input).
    """

    def __init__(self, weight_index: int = 0, name: str | None = None):
        super().__init__(name=name)
        self.weight_index = weight_index

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:  # noqa: ARG002
        values = _tensor_list(inputs, "Gate")
        weights = values[self.weight_index]
        others = [v for i, v in enumerate(values) if i != self.weight_index % len(values)]
        return tf.add_n([weights[:, k, None] * x for k, x in enumerate(others)])

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> Gate:
        index = params.get("weight_index", 0)
        if isinstance(input_shape, (list, tuple)) and not -len(input_shape) <= index \
                < len(input_shape):
            raise params.error(f"weight_index {index} is outside the {len(input_shape)} inputs",
                               "weight_index")
        return cls(index, name=name)

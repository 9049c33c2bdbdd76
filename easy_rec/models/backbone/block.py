"""One backbone block: merge its inputs, then run its layer(s).

A block's inputs are merged as EasyRec merges them: one input is passed as it is; several
lists are joined into one list; a mix of lists and tensors becomes one list; several tensors
are concatenated along input_concat_axis (-1), unless merge_inputs_into_list. Each input may
first be cut by input_slice and transformed by input_fn, the merged value by extra_input_fn
(expressions.py).

The layer is one of: a keras_layer (a registered component, easy_rec.layers.registry), a
lambda, a repeat (num_repeat copies of a component with their own weights on the same input,
outputs as a list or concatenated along output_concat_axis), a recurrent (num_steps copies
applied in turn, the input at fixed_input_index kept), `layers` (a sequence of those), or
none (the merged input is the output). Components are created on the first call, from the
shapes of their actual inputs; the backbone makes that first call while it is built.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, ParamError, Params, Shapes
from easy_rec.layers.registry import UnsupportedComponent, component_class
from easy_rec.models.backbone import expressions
from easy_rec.models.backbone.spec import BackboneError, BlockSpec
from easy_rec.protos import backbone_pb2, keras_layer_pb2

Value = Any  # a tensor, a list / tuple of values, or None


def merge_inputs(values: list[Value], axis: int, where: str) -> Value:
    """EasyRec's merge of a block's inputs (see the module docstring)."""
    if not values:
        raise BackboneError(where, "no inputs to merge (every input has ignore_input)")
    if len(values) == 1:
        return values[0]
    if any(isinstance(v, (list, tuple)) for v in values):
        return [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
    try:
        return tf.concat(values, axis=axis)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        raise BackboneError(where, f"cannot concatenate the inputs along axis {axis} "
                            f"(shapes {[v.shape.as_list() for v in values]}): {error}") from None


def shapes_of(value: Value) -> Shapes:
    """Static shapes of a value, with the batch dimension unknown."""
    if isinstance(value, (list, tuple)):
        return type(value)(shapes_of(v) for v in value)
    if isinstance(value, (tf.Tensor, tf.Variable)):
        dims = value.shape.as_list()
        return tf.TensorShape([None] + dims[1:]) if dims else tf.TensorShape([])
    return None


def module_name(name: str) -> str:
    """A tf.Module name (a Python identifier) for a block or component name."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned.isidentifier() else f"b_{cleaned}"


@dataclass
class _Step:
    """One layer of a block: its kind (keras_layer, lambda, repeat, recurrent), the message
    holding it, its config path and the name of its component(s)."""

    kind: str
    config: Message
    path: str
    key: str


class Block(tf.Module):
    """A block other than an input_layer: inputs -> merged value -> layer(s) -> output."""

    def __init__(self, spec: BlockSpec):
        super().__init__(name=module_name(spec.name))
        self.spec = spec
        config = spec.config
        self._slices = [_parse_slice(ref.config.input_slice, f"{ref.path}.input_slice")
                        if ref.config.HasField("input_slice") else None for ref in spec.inputs]
        self._fns = [_parse_function(ref.config.input_fn, f"{ref.path}.input_fn")
                     if ref.config.HasField("input_fn") else None for ref in spec.inputs]
        self._extra = (_parse_function(config.extra_input_fn, f"{spec.path}.extra_input_fn")
                       if config.HasField("extra_input_fn") else None)
        if config.layers:
            self._steps = [_Step(layer.WhichOneof("layer"), layer, f"{spec.path}.layers[{i}]",
                                 f"{spec.name}_l{i}") for i, layer in enumerate(config.layers)]
        elif config.WhichOneof("layer"):
            self._steps = [_Step(config.WhichOneof("layer"), config, spec.path, spec.name)]
        else:
            self._steps = []
        self._lambdas = {s.path: _parse_function(getattr(s.config, "lambda").expression,
                                                 f"{s.path}.lambda.expression")
                         for s in self._steps if s.kind == "lambda"}
        self._repeat_fns = {s.path: _repeat_functions(s.config.repeat, f"{s.path}.repeat")
                            for s in self._steps if s.kind == "repeat"}
        for step in self._steps:
            if step.kind is None:
                raise BackboneError(step.path, "a layer needs lambda, keras_layer, recurrent or "
                                    "repeat")
        self.components: dict[str, Layer] = {}

    def __call__(self, values: list[Value], training: bool, context: BlockContext) -> Value:
        """`values`: the resolved inputs, in `inputs` order."""
        kept = []
        for ref, value, cut, fn in zip(self.spec.inputs, values, self._slices, self._fns):
            if ref.config.ignore_input:
                continue
            if cut is not None:
                value = cut(value)
            if fn is not None:
                value = fn(value)
            kept.append(value)
        config = self.spec.config
        value = kept if config.merge_inputs_into_list else merge_inputs(
            kept, config.input_concat_axis, f"{self.spec.path}.inputs")
        if self._extra is not None:
            value = self._extra(value)
        for step in self._steps:
            value = self._run(step, value, training, context)
        return value

    def _run(self, step: _Step, value: Value, training: bool, context: BlockContext) -> Value:
        if step.kind == "keras_layer":
            return self._call(step.key, step.config.keras_layer, f"{step.path}.keras_layer",
                              value, training, context)
        if step.kind == "lambda":
            return self._lambdas[step.path](value)
        if step.kind == "repeat":
            return self._repeat(step, value, training, context)
        return self._recurrent(step, value, training, context)

    def _repeat(self, step: _Step, value: Value, training: bool, context: BlockContext) -> Value:
        config: backbone_pb2.RepeatLayer = step.config.repeat
        cut, fn = self._repeat_fns[step.path]
        outputs = []
        for i in range(config.num_repeat):
            x = value
            if cut is not None:
                x = cut(x, i)
            if fn is not None:
                x = fn(x, i)
            outputs.append(self._call(f"{step.key}_{i}", config.keras_layer,
                                      f"{step.path}.repeat.keras_layer", x, training, context))
        if len(outputs) == 1:
            return outputs[0]
        if config.HasField("output_concat_axis"):
            return tf.concat(outputs, axis=config.output_concat_axis)
        return outputs

    def _recurrent(self, step: _Step, value: Value, training: bool,
                   context: BlockContext) -> Value:
        """num_steps components in turn. With fixed_input_index f the input is a list whose
        element f stays fixed while the other elements are replaced by each step's output(s);
        the result is the list without element f (its only element if one is left)."""
        config: backbone_pb2.RecurrentLayer = step.config.recurrent
        where = f"{step.path}.recurrent"
        fixed = config.fixed_input_index if config.HasField("fixed_input_index") else -1
        if fixed >= 0:
            if not isinstance(value, (list, tuple)) or fixed >= len(value):
                raise BackboneError(f"{where}.fixed_input_index", f"fixed_input_index {fixed} "
                                    "needs a list input with that index (e.g. input_fn: "
                                    "'lambda x: [x, x]')")
            value = list(value)
        for i in range(config.num_steps):
            output = self._call(f"{step.key}_{i}", config.keras_layer, f"{where}.keras_layer",
                                value, training, context)
            if fixed < 0:
                value = output
                continue
            replaced = output if isinstance(output, (list, tuple)) else None
            j = 0
            for index in range(len(value)):
                if index != fixed:
                    value[index] = replaced[j] if replaced is not None else output
                    j += 1
        if fixed < 0:
            return value
        rest = [v for index, v in enumerate(value) if index != fixed]
        return rest[0] if len(rest) == 1 else rest

    def _call(self, key: str, config: keras_layer_pb2.KerasLayer, path: str, value: Value,
              training: bool, context: BlockContext) -> Value:
        layer = self.components[key] if key in self.components else self._build(
            key, config, path, value)
        try:
            return layer.call_block(value, training, context)
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
            if isinstance(error, BackboneError):
                raise
            raise BackboneError(path, f"{config.class_name} on input {_describe(value)}: "
                                f"{error}") from error

    def _build(self, key: str, config: keras_layer_pb2.KerasLayer, path: str,
               value: Value) -> Layer:
        if not tf.executing_eagerly():
            raise RuntimeError(f"{path}: component {key} was not built with the backbone")
        try:
            cls = component_class(config.class_name)
        except UnsupportedComponent as error:
            raise BackboneError(f"{path}.class_name", str(error)) from None
        which = config.WhichOneof("params")
        params = Params(getattr(config, which) if which else None,
                        f"{path}.{which}" if which else path)
        try:
            with self.name_scope:
                layer = cls.from_params(params, shapes_of(value), module_name(key))
        except ParamError as error:
            raise BackboneError(error.field or path, error.reason) from error
        except (ValueError, TypeError) as error:
            raise BackboneError(path, f"{config.class_name} on input {_describe(value)}: "
                                f"{error}") from error
        self.components[key] = layer
        return layer


def _describe(value: Value) -> str:
    shapes = shapes_of(value)
    if isinstance(shapes, tf.TensorShape):
        return str(shapes.as_list() if shapes.rank is not None else shapes)
    return repr(shapes).replace("TensorShape(", "").replace(")", "")


def _parse_function(text: str, path: str, max_params: int = 1) -> expressions.Function:
    try:
        return expressions.parse_function(text, max_params)
    except expressions.ExpressionError as error:
        raise BackboneError(path, str(error)) from None


def _parse_slice(text: str, path: str, extra: tuple[str, ...] = ()) -> expressions.Function:
    try:
        return expressions.parse_slice(text, extra)
    except expressions.ExpressionError as error:
        raise BackboneError(path, str(error)) from None


def _repeat_functions(config: backbone_pb2.RepeatLayer, path: str
                      ) -> tuple[expressions.Function | None, expressions.Function | None]:
    """A repeat's input_slice and input_fn, as functions of the input x and the index i."""
    cut = (_parse_slice(config.input_slice, f"{path}.input_slice", ("i",))
           if config.HasField("input_slice") else None)
    fn = (_parse_function(config.input_fn, f"{path}.input_fn", 2)
          if config.HasField("input_fn") else None)
    if fn is not None and len(fn.params) != 2:
        raise BackboneError(f"{path}.input_fn", "a repeat's input_fn takes the input and the "
                            "repetition index: 'lambda x, i: ...'")
    return cut, fn


"""What a backbone component receives: its parameters, the shape of its input, a call context.

EasyRec configures a component (`keras_layer { class_name: "X" ... }`) either with a
`google.protobuf.Struct` (`st_params`) or with a typed message of the `params` oneof
(`mlp {...}`, `senet {...}`). `Params` reads both the same way, with the semantics of
EasyRec's `Parameter.get_or_default`: a value that is set wins, otherwise the component's own
default applies. For a typed message, a number or bool field that is not set falls back to the
component's default, while a string field that is not set gives its proto default when that is
not empty (EasyRec reads strings by length, not by presence).

A component is a Layer registered under EasyRec's class name that implements
`from_params(params, input_shape, name)` (see easy_rec/layers/registry.py and
docs/backbone.md). The backbone calls `layer.call_block(inputs, training, context)`;
`BlockContext.add_loss` lets a component add a term to the model's loss (EasyRec's
`loss_dict`).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import tensorflow as tf
from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

#: static shape(s) of a block input: one TensorShape (batch dim None), None for a None value,
#: or a list / tuple mirroring a list / tuple of inputs
Shapes: TypeAlias = tf.TensorShape | None | list["Shapes"] | tuple["Shapes", ...]


class ParamError(ValueError):
    """A component parameter that is missing or wrong; `field` is its config path."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


class Params:
    """Read-only view of a component's parameters (a Struct, a typed message, or nothing).

    `path` is the config field path of the parameters (e.g.
    ``model_config.backbone.blocks[2].keras_layer.mlp``), used to name fields in errors.
    """

    def __init__(self, source: Message | None = None, path: str = ""):
        if source is not None and not isinstance(source, Message):
            raise TypeError(f"Params wraps a protobuf message, got {type(source).__name__}")
        self._source = source
        self.path = path

    @property
    def is_struct(self) -> bool:
        """True for st_params (a google.protobuf.Struct)."""
        return isinstance(self._source, struct_pb2.Struct)

    @property
    def message(self) -> Message | None:
        """The typed message (None for st_params or no parameters)."""
        return None if self.is_struct else self._source

    def keys(self) -> list[str]:
        """Names of the parameters that are set."""
        if self._source is None:
            return []
        if self.is_struct:
            return list(self._source.keys())
        return [f.name for f, _ in self._source.ListFields()]

    def has(self, key: str) -> bool:
        """Whether parameter `key` is set (a non-empty list for repeated fields)."""
        if self._source is None:
            return False
        if self.is_struct:
            return key in self._source
        descriptor = self._source.DESCRIPTOR.fields_by_name.get(key)
        if descriptor is None:
            return False
        if descriptor.is_repeated:
            return len(getattr(self._source, key)) > 0
        return self._source.HasField(key)

    def get(self, key: str, default: Any = None, kind: Callable[[Any], Any] | None = None) -> Any:
        """The value of `key` when set, else `default`.

        Numbers of a Struct are floats: `kind` (or the type of an int / float / bool default)
        converts the value, element-wise for lists. Nested messages / Structs come back as
        Params, repeated ones as lists of Params.
        """
        if not self.has(key):
            value = self._string_default(key)
            if not value:
                return default
        else:
            value = self._value(key)
        convert = kind or (type(default) if isinstance(default, (bool, int, float)) else None)
        if convert is None:
            return value
        try:
            if isinstance(value, list):
                return [_convert(convert, v) for v in value]
            return _convert(convert, value)
        except (TypeError, ValueError) as error:
            raise self.error(f"{value!r} is not a valid value ({error})", key) from None

    def require(self, *keys: str) -> None:
        """ParamError naming the first of `keys` that is not set."""
        for key in keys:
            if not self.has(key):
                raise self.error(f"parameter {key!r} is required", key)

    def check_keys(self, allowed: Collection[str]) -> None:
        """ParamError for a parameter outside `allowed` (for st_params, which may hold any
        key; Keras would refuse an unknown keyword the same way)."""
        for key in self.keys():
            if key not in allowed:
                raise self.error(f"unknown parameter {key!r}; accepted: "
                                 f"{', '.join(allowed) or 'none'}", key)

    def child(self, key: str) -> Params:
        """Nested parameters `key` (a Struct value or a message field); empty when unset."""
        if self.has(key):
            value = self._value(key)
            if isinstance(value, Params):
                return value
            raise self.error(f"expected nested parameters, got {value!r}", key)
        return Params(None, self._path(key))

    def error(self, reason: str, key: str | None = None) -> ParamError:
        """A ParamError at this Params' path (and `key`)."""
        return ParamError(reason, self._path(key) if key else self.path or None)

    def _path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _string_default(self, key: str) -> str:
        """Proto default of an unset singular string field of a typed message ('' otherwise)."""
        message = self.message
        descriptor = message.DESCRIPTOR.fields_by_name.get(key) if message is not None else None
        if (descriptor is None or descriptor.type != FieldDescriptor.TYPE_STRING
                or descriptor.is_repeated):
            return ""
        return getattr(message, key)

    def _value(self, key: str) -> Any:
        if self.is_struct:
            return _struct_value(self._source[key], self._path(key))
        value = getattr(self._source, key)
        descriptor = self._source.DESCRIPTOR.fields_by_name[key]
        is_message = descriptor.type == FieldDescriptor.TYPE_MESSAGE
        if descriptor.is_repeated:
            if is_message:
                return [Params(v, f"{self._path(key)}[{i}]") for i, v in enumerate(value)]
            return list(value)
        return Params(value, self._path(key)) if is_message else value


def _convert(kind: Callable[[Any], Any], value: Any) -> Any:
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError("not an integer")
    return kind(value)


def _struct_value(value: Any, path: str) -> Any:
    """Python value of a Struct entry: lists for ListValues, Params for nested Structs."""
    if isinstance(value, struct_pb2.Struct):
        return Params(value, path)
    if isinstance(value, struct_pb2.ListValue):
        return [_struct_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def field_count(input_shape: Shapes, what: str) -> tuple[int, int]:
    """(fields, width) of a field input: a list of [batch, width] tensors or one
    [batch, fields, width] tensor (ValueError naming `what` otherwise)."""
    if isinstance(input_shape, (list, tuple)):
        widths = {None if s is None or s.rank != 2 else s[-1] for s in input_shape}
        if len(widths) != 1 or None in widths:
            raise ValueError(f"{what} takes [batch, dim] field embeddings of one width, got "
                             f"{list(input_shape)}")
        return len(input_shape), int(widths.pop())
    if isinstance(input_shape, tf.TensorShape) and input_shape.rank == 3 \
            and None not in input_shape[1:]:
        return int(input_shape[1]), int(input_shape[2])
    raise ValueError(f"{what} takes a list of [batch, dim] tensors or a [batch, fields, dim] "
                     f"tensor, got {input_shape}")


def stack_fields(inputs: Any) -> tf.Tensor:
    """[batch, fields, width] from a list of [batch, width] tensors (or such a tensor)."""
    return tf.stack(list(inputs), axis=1) if isinstance(inputs, (list, tuple)) else inputs


def struct_params(values: Mapping[str, Any], path: str = "") -> Params:
    """Params over a Struct built from a dict (tests and programmatic use)."""
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return Params(struct, path)


@dataclass
class BlockContext:
    """What a component may use besides its inputs while the backbone runs.

    `losses` collects the terms components add with `add_loss` (EasyRec's loss_dict); the
    model adds them to its loss.
    """

    training: bool = False
    losses: dict[str, tf.Tensor] = field(default_factory=dict)

    def add_loss(self, name: str, value: tf.Tensor) -> None:
        """Adds scalar `value` to the model's loss under `name` (unique per model)."""
        if name in self.losses:
            raise ValueError(f"loss {name!r} is added twice")
        self.losses[name] = value

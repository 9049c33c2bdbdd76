"""EasyRec's ``--edit_config_json``: overrides of config fields addressed by path.

An edit maps a path to a value, e.g. ``{"train_config.num_steps": 1000}``. Path segments
are field names separated by dots; a repeated field is narrowed by selectors:

* ``[2]``, ``[-1]``: one element; ``[:]``: every element; ``[1:3]``: a slice;
* ``[field=value]``: elements whose subfield equals value (for a repeated subfield, any of
  its elements); the subfield may itself be a path with selectors, e.g.
  ``features[input_names[0]=user_id]``;
* ``[field>value]``, ``<``, ``>=``, ``<=``: numeric comparisons; ``!=``: not equal.

Selectors chain (``features[feature_type=IdFeature][0]``). The last segment may select
elements of a repeated scalar (``hidden_units[0]``). Values are converted to the field's
type; a list replaces a repeated field; a dict (or a text-format string) is merged into a
message field. Going *through* a oneof member that another member holds
(``model_config.deepfm.dnn...`` in a wide_and_deep config) is an error; assigning a whole
message to it (``{"model_config.fm": {}}``) switches the oneof.
"""
from __future__ import annotations

import json
import logging
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import json_format, message_factory, text_format
from google.protobuf.message import Message

from easy_rec.config.errors import ConfigError
from easy_rec.config.paths import PathSyntaxError, join_path, parse_index, parse_segment, split_path

logger = logging.getLogger(__name__)

EDIT_SOURCE = "<edit_config_json>"

FieldDescriptor = _descriptor.FieldDescriptor
_INT_TYPES = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
              FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64}
_FLOAT_TYPES = {FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE}
_NUMERIC_TYPES = _INT_TYPES | _FLOAT_TYPES
_SLICE = re.compile(r"(-?\d*):(-?\d*)(?::(-?\d*))?")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}
_ORDERED = {">", "<", ">=", "<="}

Edits = Mapping[str, Any] | str | None


class _EditFailure(Exception):
    """Internal: what went wrong in one edit; becomes a ConfigError naming the edit path."""


def parse_edits(edits: Edits) -> dict[str, Any]:
    """The edits as a dict: a JSON object string is parsed, a mapping is copied, None is {}."""
    if edits is None:
        return {}
    if isinstance(edits, (str, bytes)):
        text = edits.decode("utf-8") if isinstance(edits, bytes) else edits
        if not text.strip():
            return {}
        try:
            edits = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"not valid JSON: {error}", path=EDIT_SOURCE) from None
    if not isinstance(edits, Mapping):
        raise ConfigError(f"expected a JSON object mapping field paths to values, got "
                          f"{type(edits).__name__}", path=EDIT_SOURCE)
    for key in edits:
        if not isinstance(key, str):
            raise ConfigError(f"edit path {key!r} is not a string", path=EDIT_SOURCE)
    return dict(edits)


def apply_edits(config: Message, edits: Edits) -> list[str]:
    """Applies `edits` (dict or JSON object string) to `config` in place, in order.

    Returns the concrete paths that were set (``feature_config.features[3].embedding_dim``
    for a selector path), in order. Raises ConfigError (path ``<edit_config_json>``,
    field = the edit path) on the first edit that names an unknown field, selects nothing,
    indexes out of range or gives a value of the wrong type.
    """
    changed: list[str] = []
    for edit_path, value in parse_edits(edits).items():
        try:
            paths = _apply_one(config, edit_path, value)
        except _EditFailure as failure:
            raise ConfigError(str(failure), path=EDIT_SOURCE, field=edit_path) from None
        logger.info("edit_config_json: %s = %s (%s)", edit_path, _short_json(value),
                    ", ".join(paths) if len(paths) <= 4 else f"{len(paths)} places")
        changed.extend(paths)
    return changed


def _short_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# -- navigation ------------------------------------------------------------------------
@dataclass
class _Target:
    """A message the path reaches so far, and its concrete path (for messages)."""

    message: Message
    path: str


def _apply_one(config: Message, edit_path: str, value: Any) -> list[str]:
    """Applies one edit; returns the concrete paths it set."""
    try:
        segments = [parse_segment(s) for s in split_path(edit_path.strip())]
    except PathSyntaxError as error:
        raise _EditFailure(f"bad path: {error}") from None
    targets = [_Target(config, "")]
    for name, selectors in segments[:-1]:
        targets = [t for target in targets for t in _descend(target, name, selectors)]
    name, selectors = segments[-1]
    return [p for target in targets for p in _assign(target, name, selectors, value)]


def _field(message: Message, name: str, path: str) -> FieldDescriptor:
    """Descriptor of field `name` of `message`; _EditFailure listing the fields if unknown."""
    return _field_in(message.DESCRIPTOR, name, path)


def _field_in(descriptor: _descriptor.Descriptor, name: str, path: str) -> FieldDescriptor:
    """Descriptor of field `name` of message type `descriptor`; _EditFailure if unknown."""
    field = descriptor.fields_by_name.get(name)
    if field is None:
        where = path or "the top level"
        known = ", ".join(f.name for f in descriptor.fields)
        raise _EditFailure(f"unknown field {name!r} in {where} ({descriptor.full_name}); "
                           f"its fields are: {known}")
    return field


def _check_oneof(message: Message, field: FieldDescriptor, path: str) -> None:
    """_EditFailure when `field` is a message in a oneof whose other member is set."""
    oneof = field.containing_oneof
    if oneof is None or field.message_type is None:
        return
    chosen = message.WhichOneof(oneof.name)
    if chosen is not None and chosen != field.name:
        where = path or "the config"
        raise _EditFailure(f"{join_path(path, field.name)} is not set: {where} uses "
                           f"{chosen!r} for oneof {oneof.name!r}, not {field.name!r}")


def _note_oneof_switch(message: Message, field: FieldDescriptor, path: str) -> None:
    """Logs when assigning a whole message to `field` replaces another member of its oneof."""
    oneof = field.containing_oneof
    chosen = message.WhichOneof(oneof.name) if oneof is not None else None
    if chosen is not None and chosen != field.name:
        logger.info("edit_config_json: %s replaces %s (oneof %s)", join_path(path, field.name),
                    join_path(path, chosen), oneof.name)


def _descend(target: _Target, name: str, selectors: list[str]) -> list[_Target]:
    """The messages that `name[selectors]` names inside `target`."""
    field = _field(target.message, name, target.path)
    path = join_path(target.path, name)
    if field.message_type is None:
        raise _EditFailure(f"{path} is a {_type_name(field)} field, not a message; "
                           "only the last part of a path may name a scalar")
    _check_oneof(target.message, field, target.path)
    if not field.is_repeated:
        if selectors:
            raise _EditFailure(f"{path} is not a repeated field; it takes no [...] selector")
        return [_Target(getattr(target.message, name), path)]
    if not selectors:
        raise _EditFailure(f"{path} is repeated: pick elements with [index], [:], [a:b] or "
                           "[field=value]")
    container = getattr(target.message, name)
    indexes = _select(container, field, selectors, path, strict=True)
    return [_Target(container[i], f"{path}[{i}]") for i in indexes]


# -- selectors -------------------------------------------------------------------------
def _select(container, field: FieldDescriptor, selectors: list[str], path: str,
            strict: bool) -> list[int]:
    """Indexes of `container` the chained `selectors` keep.

    strict: an index out of range or a selector keeping nothing is an _EditFailure;
    otherwise (inside a condition) it just keeps nothing.
    """
    indexes = list(range(len(container)))
    for selector in selectors:
        indexes = _apply_selector(container, field, indexes, selector, path, strict)
        if not indexes:
            if strict:
                raise _EditFailure(f"[{selector}] matches no element of {path} "
                                   f"({len(container)} element{'s' if len(container) != 1 else ''})")
            return []
    return indexes


def _apply_selector(container, field: FieldDescriptor, indexes: list[int], selector: str,
                    path: str, strict: bool) -> list[int]:
    index = parse_index(selector)
    if index is not None:
        if -len(indexes) <= index < len(indexes):
            return [indexes[index]]
        if strict:
            raise _EditFailure(f"index [{index}] is out of range: {path} has {len(indexes)} "
                               f"element{'s' if len(indexes) != 1 else ''}")
        return []
    match = _SLICE.fullmatch(selector)
    if match:
        bounds = [int(g) if g else None for g in match.groups()]
        if bounds[2] == 0:
            raise _EditFailure(f"[{selector}]: slice step cannot be 0")
        return indexes[slice(*bounds)]
    condition = _Condition.parse(selector)
    if field.message_type is None:
        raise _EditFailure(f"[{selector}]: conditions select messages, but {path} holds "
                           f"{_type_name(field)} values")
    return [i for i in indexes if condition.matches(container[i], path)]


@dataclass
class _Condition:
    """``subfield op value`` inside a selector."""

    text: str
    subpath: str
    op: str
    raw_value: str

    @classmethod
    def parse(cls, selector: str) -> _Condition:
        position = _operator_position(selector)
        if position is None:
            raise _EditFailure(f"[{selector}] is not an index, a slice or a condition like "
                               "[field=value]")
        start, end = position
        subpath, raw_value = selector[:start].strip(), selector[end:].strip()
        if not subpath:
            raise _EditFailure(f"[{selector}]: no field before {selector[start:end]!r}")
        return cls(selector, subpath, selector[start:end], _unquote(raw_value))

    def matches(self, message: Message, path: str) -> bool:
        """True when any value of the subfield in `message` satisfies the condition."""
        values, field = _values_at(message, self.subpath, f"{path}[{self.text}]")
        wanted = _comparable_operand(field, self.raw_value, self.op, self.text)
        compare = _OPERATORS[self.op]
        return any(compare(_comparable_value(field, v), wanted) for v in values)


def _operator_position(selector: str) -> tuple[int, int] | None:
    """(start, end) of the first comparison operator outside brackets and quotes."""
    depth = 0
    quote = None
    for i, char in enumerate(selector):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and char in "<>=!":
            two = selector[i:i + 2]
            return (i, i + 2) if two in _OPERATORS else (i, i + 1) if char != "!" else None
    return None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _values_at(message: Message, subpath: str, where: str) -> tuple[list[Any], FieldDescriptor]:
    """Every value `subpath` reaches in `message` (read only) and the leaf field."""
    try:
        segments = [parse_segment(s) for s in split_path(subpath)]
    except PathSyntaxError as error:
        raise _EditFailure(f"{where}: bad field path: {error}") from None
    current: list[Any] = [message]
    descriptor = message.DESCRIPTOR
    for position, (name, selectors) in enumerate(segments):
        field = _field_in(descriptor, name, where)
        if selectors and not field.is_repeated:
            raise _EditFailure(f"{where}: {name} is not repeated; it takes no selector")
        values: list[Any] = []
        for parent in current:
            container = getattr(parent, name)
            if field.is_repeated:
                chosen = (_select(container, field, selectors, where, strict=False)
                          if selectors else range(len(container)))
                values.extend(container[i] for i in chosen)
            elif field.message_type is None or parent.HasField(name):
                values.append(container)
        if position == len(segments) - 1:
            return values, field
        if field.message_type is None:
            raise _EditFailure(f"{where}: {name} is a {_type_name(field)} field, not a message")
        current, descriptor = values, field.message_type
    raise _EditFailure(f"{where}: empty field path")


def _comparable_value(field: FieldDescriptor, value: Any) -> Any:
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if field.cpp_type in _NUMERIC_TYPES:
        return float(value)
    return value


def _comparable_operand(field: FieldDescriptor, text: str, op: str, selector: str) -> Any:
    """The right-hand side of a condition, as a value comparable with the field's values."""
    if field.message_type is not None:
        raise _EditFailure(f"[{selector}]: {field.name} is a message; compare a scalar field")
    if op in _ORDERED and field.cpp_type not in _NUMERIC_TYPES:
        raise _EditFailure(f"[{selector}]: {op!r} compares numbers, but {field.name} is a "
                           f"{_type_name(field)} field")
    try:
        if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
            return _comparable_value(field, _to_enum(field, text))
        return _comparable_value(field, _convert_scalar(field, text))
    except _EditFailure as failure:
        raise _EditFailure(f"[{selector}]: {failure}") from None


# -- assignment ------------------------------------------------------------------------
def _assign(target: _Target, name: str, selectors: list[str], value: Any) -> list[str]:
    """Sets field `name[selectors]` of `target` to `value`; returns the paths it set."""
    field = _field(target.message, name, target.path)
    path = join_path(target.path, name)
    if not field.is_repeated:
        if selectors:
            raise _EditFailure(f"{path} is not a repeated field; it takes no [...] selector")
        if field.message_type is not None:
            _note_oneof_switch(target.message, field, target.path)
            _merge_message(getattr(target.message, name), value, path)
        else:
            _set_scalar(target.message, field, value, path)
        return [path]
    container = getattr(target.message, name)
    if not selectors:
        _replace_repeated(container, field, value, path)
        return [path]
    indexes = _select(container, field, selectors, path, strict=True)
    for i in indexes:
        if field.message_type is not None:
            _merge_message(container[i], value, f"{path}[{i}]")
        else:
            container[i] = _convert_scalar(field, value, f"{path}[{i}]")
    return [f"{path}[{i}]" for i in indexes]


def _merge_message(message: Message, value: Any, path: str) -> None:
    """Merges a dict (JSON form) or text-format string into `message`."""
    message.SetInParent()
    try:
        if isinstance(value, Mapping):
            json_format.ParseDict(dict(value), message)
        elif isinstance(value, str):
            text_format.Merge(value, message)
        else:
            raise _EditFailure(f"{path} is a message ({message.DESCRIPTOR.full_name}); give a "
                               f"JSON object (or a text-format string), not {_json_type(value)}")
    except (json_format.ParseError, text_format.ParseError) as error:
        raise _EditFailure(f"cannot merge into {path} ({message.DESCRIPTOR.full_name}): "
                           f"{error}") from None


def _replace_repeated(container, field: FieldDescriptor, value: Any, path: str) -> None:
    """Replaces every element of a repeated field by the list `value`."""
    if not isinstance(value, (list, tuple)):
        raise _EditFailure(f"{path} is repeated: give a list to replace its elements, or select "
                           f"elements, e.g. {path.rsplit('.', 1)[-1]}[0]; got {_json_type(value)}")
    if field.message_type is not None:
        message_class = message_factory.GetMessageClass(field.message_type)
        items = []
        for i, item in enumerate(value):
            element = message_class()
            _merge_message(element, item, f"{path}[{i}]")
            items.append(element)
        del container[:]
        container.extend(items)
        return
    converted = [_convert_scalar(field, item, f"{path}[{i}]") for i, item in enumerate(value)]
    del container[:]
    container.extend(converted)


def _set_scalar(message: Message, field: FieldDescriptor, value: Any, path: str) -> None:
    converted = _convert_scalar(field, value, path)
    try:
        setattr(message, field.name, converted)
    except (TypeError, ValueError) as error:
        raise _EditFailure(f"cannot set {path} to {value!r}: {error}") from None


# -- value conversion ------------------------------------------------------------------
def _convert_scalar(field: FieldDescriptor, value: Any, path: str | None = None) -> Any:
    """`value` converted to the type of scalar `field`; _EditFailure when it does not fit."""
    where = path or field.name
    if field.message_type is not None:
        raise _EditFailure(f"{where} is a message field")
    if isinstance(value, (list, tuple, dict)):
        raise _EditFailure(f"{where} is a {_type_name(field)} field; got {_json_type(value)}")
    cpp_type = field.cpp_type
    if cpp_type in _INT_TYPES:
        return _to_int(field, value, where)
    if cpp_type in _FLOAT_TYPES:
        return _to_float(value, where, field)
    if cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return _to_bool(value, where)
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return _to_enum(field, value, where)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value if isinstance(value, bytes) else _to_string(value, where).encode("utf-8")
    return _to_string(value, where)


def _to_int(field: FieldDescriptor, value: Any, where: str) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        number = _parse_int(value.strip())
    if number is None:
        raise _EditFailure(f"{where} is a {_type_name(field)} field; {value!r} is not an integer")
    unsigned = field.cpp_type in (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64)
    bits = 32 if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32) else 64
    low, high = (0, 2 ** bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if not low <= number <= high:
        raise _EditFailure(f"{where} is a {_type_name(field)} field; {number} is out of range "
                           f"[{low}, {high}]")
    return number


def _parse_int(text: str) -> int | None:
    try:
        return int(text, 0) if text.lower().startswith(("0x", "-0x")) else int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def _to_float(value: Any, where: str, field: FieldDescriptor) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
        if number is not None and (math.isfinite(number) or value.strip().lower().lstrip("+-")
                                   in ("inf", "infinity", "nan")):
            return number
    raise _EditFailure(f"{where} is a {_type_name(field)} field; {value!r} is not a number")


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise _EditFailure(f"{where} is a bool field; {value!r} is not true or false")


def _to_enum(field: FieldDescriptor, value: Any, where: str | None = None) -> int:
    enum = field.enum_type
    where = where or field.name
    if isinstance(value, str):
        text = value.strip()
        if text in enum.values_by_name:
            return enum.values_by_name[text].number
        if re.fullmatch(r"-?\d+", text):
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return value
    names = ", ".join(v.name for v in enum.values)
    raise _EditFailure(f"{where} is an enum {enum.name} field; {value!r} is not one of its "
                       f"values: {names}")


def _to_string(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _EditFailure(f"{where} is a string field; got {_json_type(value)}")


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return f"message ({field.message_type.full_name})"
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return f"enum {field.enum_type.name}"
    names = {
        FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_FLOAT: "float",
        FieldDescriptor.TYPE_INT64: "int64", FieldDescriptor.TYPE_UINT64: "uint64",
        FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_UINT32: "uint32",
        FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_BYTES: "bytes", FieldDescriptor.TYPE_SINT32: "sint32",
        FieldDescriptor.TYPE_SINT64: "sint64", FieldDescriptor.TYPE_FIXED32: "fixed32",
        FieldDescriptor.TYPE_FIXED64: "fixed64", FieldDescriptor.TYPE_SFIXED32: "sfixed32",
        FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    }
    return names.get(field.type, "scalar")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return f"the bool {json.dumps(value)}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"the {type(value).__name__} {value!r}"

"""Refuses the parts of EasyRec's config language that parse here but are not implemented.

Fields and enum values carry the `unsupported` / `unsupported_value` options of
``protos/easy_rec/protos/options.proto`` with the reason. A config that sets such a field
(a scalar other than its default, any element of a repeated field, a present sub-message) or picks such
an enum value fails with ``<path>: <field> is not supported: <reason>``, so users and scripts
can tell a refused option from a typo.
"""
from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import EnumValueDescriptor, FieldDescriptor
from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.protos import options_pb2


def field_refusal(field: FieldDescriptor) -> str | None:
    """The reason `field` is not supported, or None when it is."""
    reason = field.GetOptions().Extensions[options_pb2.unsupported]
    return reason or None


def enum_value_refusal(value: EnumValueDescriptor) -> str | None:
    """The reason enum `value` is not supported, or None when it is."""
    reason = value.GetOptions().Extensions[options_pb2.unsupported_value]
    return reason or None


def find_unsupported(message: Message, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(field path, name, reason) of every unsupported field or enum value set in `message`,
    depth first in declaration order."""
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        reason = field_refusal(field)
        if reason is not None and not _is_default(field, value):
            yield path, field.name, reason
            continue
        repeated = field.is_repeated
        values = value if repeated else [value]
        for index, item in enumerate(values):
            where = f"{path}[{index}]" if repeated else path
            if field.message_type is not None:
                if not field.message_type.GetOptions().map_entry:
                    yield from find_unsupported(item, where)
            elif field.enum_type is not None:
                enum_value = field.enum_type.values_by_number.get(item)
                reason = enum_value_refusal(enum_value) if enum_value is not None else None
                if reason is not None:
                    yield where, f"{field.name}: {enum_value.name}", reason


def _is_default(field: FieldDescriptor, value: object) -> bool:
    """True for a singular scalar written with its default value (EasyRec configs often spell
    out defaults such as ``chief_redundant: false``; those are accepted)."""
    return (not field.is_repeated and field.message_type is None
            and value == field.default_value)


def check_unsupported_fields(ctx: CheckContext) -> None:
    """ConfigError for the first unsupported field or enum value the config sets."""
    for path, name, reason in find_unsupported(ctx.config):
        ctx.fail(path, f"{name} is not supported: {reason}")

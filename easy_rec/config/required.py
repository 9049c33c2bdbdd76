"""proto2 `required` fields, read as EasyRec reads them.

EasyRec loads configs with ``text_format.Merge``, which never checks `required`: a missing
required field simply reads as its default, and EasyRec's own samples rely on that (e.g.
``multi_tower.final_dnn`` omitted: an empty DNN, the identity). `fill_required_defaults` makes
that explicit on load: a missing required message field becomes an empty message, a missing
required scalar that declares a default (or is an enum) takes it. What stays missing is a
required scalar without a declared default (a name, a count): its zero value cannot mean
anything, so `check_required_fields` reports it.
"""
from __future__ import annotations

import logging

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from easy_rec.config.context import CheckContext

logger = logging.getLogger(__name__)


def _has_usable_default(field: FieldDescriptor) -> bool:
    return field.message_type is not None or field.enum_type is not None or field.has_default_value


def fill_required_defaults(message: Message, path: str = "") -> list[str]:
    """Sets every missing required field of `message` (recursively) that has a usable default;
    returns the paths it set."""
    filled: list[str] = []
    for field in message.DESCRIPTOR.fields:
        where = f"{path}.{field.name}" if path else field.name
        if field.is_required and not message.HasField(field.name) and _has_usable_default(field):
            if field.message_type is not None:
                getattr(message, field.name).SetInParent()
            else:
                setattr(message, field.name, field.default_value)
            filled.append(where)
        if field.message_type is None:
            continue
        if field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                continue
            for i, item in enumerate(getattr(message, field.name)):
                filled.extend(fill_required_defaults(item, f"{where}[{i}]"))
        elif message.HasField(field.name):
            filled.extend(fill_required_defaults(getattr(message, field.name), where))
    if filled and not path:
        logger.info("required fields missing, set to their defaults as EasyRec reads them: %s",
                    ", ".join(filled))
    return filled


def check_required_fields(ctx: CheckContext) -> None:
    """ConfigError naming the first missing required field that has no usable default (and
    listing the rest)."""
    missing = ctx.config.FindInitializationErrors()
    if not missing:
        return
    first, rest = missing[0], missing[1:]
    reason = f"required field {first.rsplit('.', 1)[-1]!r} is missing (it has no default)"
    if rest:
        reason += f" (also missing: {', '.join(rest)})"
    ctx.fail(first, reason)

"""Name ranges of EasyRec's config language: ``field[1-3]`` stands for field1, field2, field3.

With ``data_config.auto_expand_input_fields: true`` an input field named ``field[1-21]`` is
replaced by 21 input fields ``field1`` ... ``field21`` of the same type and default, as EasyRec
does. Ranges are inclusive, and the numbers are written without padding.
"""
from __future__ import annotations

import re

from google.protobuf.message import Message

_RANGE = re.compile(r"^(?P<prefix>.*)\[(?P<first>\d+)-(?P<last>\d+)\]$")


def expand_name_range(name: str) -> list[str] | None:
    """The names ``name`` stands for when it is a range like ``field[1-3]``, else None."""
    match = _RANGE.match(name)
    if match is None:
        return None
    first, last = int(match["first"]), int(match["last"])
    if last < first:
        return None
    return [f"{match['prefix']}{i}" for i in range(first, last + 1)]


def expand_input_fields(config: Message) -> list[int]:
    """Expands ranged input field names in place when the config asks for it.

    Returns, for each input field after expansion, the index of the field it came from (so
    errors can point at the line the user wrote).
    """
    data = config.data_config
    fields = list(data.input_fields)
    if not data.auto_expand_input_fields:
        return list(range(len(fields)))
    expanded: list[tuple[int, Message]] = []
    for index, field in enumerate(fields):
        names = expand_name_range(field.input_name) or [field.input_name]
        for name in names:
            copy = type(field)()
            copy.CopyFrom(field)
            copy.input_name = name
            expanded.append((index, copy))
    del data.input_fields[:]
    for _, field in expanded:
        data.input_fields.add().CopyFrom(field)
    return [index for index, _ in expanded]


def original_input_field_path(field_path: str, origins: list[int]) -> str:
    """`field_path` with an expanded input field's index replaced by the written one's."""
    match = re.match(r"^data_config\.input_fields\[(\d+)\]", field_path)
    if match is None or int(match[1]) >= len(origins):
        return field_path
    return f"data_config.input_fields[{origins[int(match[1])]}]{field_path[match.end():]}"

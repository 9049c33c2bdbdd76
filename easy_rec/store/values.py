"""Feature values in the store: each value is kept as text in a JSON object per row, and
typed by the field types of data_config (FieldType names: INT32, INT64, FLOAT, DOUBLE, BOOL,
STRING) when read back.

The text of a value is canonical: integers in decimal, FLOAT as the shortest text that reads
back as the same float32, DOUBLE as the shortest text of the float64, BOOL as true / false,
STRING as given (multi-value features stay the separator-joined text of the CSV cell).
Text input (e.g. ``"17"`` from a CSV cell or an HTTP request) must be a valid cell of the
type, as in training (surrounding blanks allowed).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring  # type: ignore[attr-defined]

import numpy as np
import orjson

from easy_rec.protos import dataset_pb2
from easy_rec.tables.cell_patterns import INT_RANGES, is_valid_cell

_TYPES = dataset_pb2.DatasetConfig.FieldType
TYPE_NAMES: tuple[str, ...] = tuple(_TYPES.keys())
_INTEGER = ("INT32", "INT64")
_REAL = ("FLOAT", "DOUBLE")

# text -> typed value, per type name
DECODERS: dict[str, Callable[[str], object]] = {
    "INT32": int, "INT64": int, "FLOAT": float, "DOUBLE": float,
    "BOOL": lambda text: text == "true", "STRING": str,
}


def type_name(field_type: str | int) -> str:
    """The FieldType name of `field_type` (a name in any case, or the enum number)."""
    if isinstance(field_type, int):
        return _TYPES.Name(field_type)
    name = field_type.strip().upper()
    if name not in TYPE_NAMES:
        raise ValueError(f"unknown field type {field_type!r} (use one of {', '.join(TYPE_NAMES)})")
    return name


def value_text(field_type: str, value: object) -> str:
    """The canonical text of one value of `field_type`; ValueError when it is not one."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    if field_type == "STRING":
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{value!r} is not a STRING")
    if isinstance(value, str):
        if not is_valid_cell(value, _TYPES.Value(field_type)):
            raise ValueError(f"{value!r} is not a valid {field_type}")
        return _text_of_cell(field_type, value.strip())
    return _text_of_number(field_type, value)


def _text_of_cell(field_type: str, cell: str) -> str:
    if field_type == "BOOL":
        return "true" if cell.lower() in ("1", "true") else "false"
    if field_type in _INTEGER:
        return str(int(cell))
    return _text_of_number(field_type, float(cell))


def _text_of_number(field_type: str, value: object) -> str:
    if field_type == "BOOL":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return "true" if value else "false"
        raise ValueError(f"{value!r} is not a BOOL")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a {field_type}")
    if field_type in _INTEGER:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a {field_type}")
        low, high = INT_RANGES[_TYPES.Value(field_type)]
        if not low <= int(value) <= high:
            raise ValueError(f"{value!r} is out of the range of {field_type}")
        return str(int(value))
    return str(np.float32(value)) if field_type == "FLOAT" else repr(float(value))


def column_texts(field_type: str, values: np.ndarray) -> list[str]:
    """Canonical texts of a column of typed values (numpy, as the table converter makes
    them: integers, floats of the field's width, bools, or bytes for STRING)."""
    if field_type == "STRING":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in values.tolist()]
    if field_type == "BOOL":
        return np.where(values.astype(bool), "true", "false").tolist()
    if field_type in _REAL:
        return values.astype(np.float32 if field_type == "FLOAT" else np.float64).astype(
            str).tolist()
    return values.astype(np.int64).astype(str).tolist()


def row_texts(types: Mapping[str, str], row: Mapping[str, object]) -> dict[str, str]:
    """Canonical texts of a row's values; ValueError naming the field that is unknown or
    whose value does not fit its type."""
    texts = {}
    for name, value in row.items():
        if name not in types:
            raise ValueError(f"field {name!r} is not in the table (fields: {', '.join(types)})")
        try:
            texts[name] = value_text(types[name], value)
        except ValueError as error:
            raise ValueError(f"field {name!r}: {error}") from None
    return texts


def encode_row(texts: Mapping[str, str]) -> str:
    """The stored form of a row: a compact JSON object of field -> text."""
    return json.dumps(texts, ensure_ascii=False, separators=(",", ":"))


def encode_columns(types: Mapping[str, str], texts: Mapping[str, list[str]]) -> list[str]:
    """`encode_row` of every row of columns of canonical texts (the same JSON, made faster:
    only STRING cells need escaping)."""
    parts = []
    for name, cells in texts.items():
        prefix = encode_basestring(name) + ":"
        if types[name] == "STRING":
            parts.append([prefix + q for q in map(encode_basestring, cells)])
        else:
            parts.append([f'{prefix}"{t}"' for t in cells])
    return ["{" + ",".join(cells) + "}" for cells in zip(*parts)]


def decode_row(types: Mapping[str, str], stored: bytes | str) -> dict[str, object]:
    """The typed row of a stored JSON object, in schema order (fields the schema lacks are
    left out)."""
    return decode_rows(types, [stored])[0]


def parse_rows(stored: list[bytes | str]) -> list[dict[str, str]]:
    """The field -> text objects of stored rows, untyped (parsed as one JSON array: one
    orjson call, twice as fast as the json module on a request's rows)."""
    if not stored:
        return []
    joined = b",".join(s if isinstance(s, bytes) else s.encode("utf-8") for s in stored)
    return orjson.loads(b"[" + joined + b"]")


def decode_rows(types: Mapping[str, str], stored: list[bytes | str]) -> list[dict[str, object]]:
    """`decode_row` of many stored rows."""
    return type_rows(types, parse_rows(stored))


def type_rows(types: Mapping[str, str], rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """Rows of field texts (`parse_rows`) typed by the schema, in schema order (fields the
    schema lacks are left out)."""
    decoders = [(name, DECODERS[kind]) for name, kind in types.items()]
    return [{name: decode(texts[name]) for name, decode in decoders if name in texts}
            for texts in rows]

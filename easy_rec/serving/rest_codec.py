"""TensorFlow Serving's REST predict format: JSON request bodies -> numpy columns in a
signature's dtypes, and outputs -> JSON responses.

Requests hold rows (``"instances": [{input: value, ...}, ...]``, or bare values when the
signature has one input) or columns (``"inputs": {input: [values]}``, or one list for a
single input), plus an optional ``"signature_name"``. Responses mirror the form:
``{"predictions": [...]}`` for rows (one object per row, or bare values for one output),
``{"outputs": {output: [...]}}`` for columns (a bare list for one output).

Values are data, never code: each is turned into the text a CSV cell would hold and parsed
with the rules of the training reader (tables/convert.py), so ``"17"`` and ``17`` are the same
int64 and ``null`` takes the column's default. Strings may be given as ``{"b64": "..."}``.
A value a column cannot take raises RequestError (HTTP 400) naming the field.
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import tensorflow as tf

from easy_rec.serving.signature import ServingSignature
from easy_rec.tables.column_types import zero_text
from easy_rec.tables.convert import ColumnRule, convert_column


class RequestError(Exception):
    """A request the service refuses: the HTTP status and a message naming the field."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> RequestError:
    """HTTP 400 with `message`."""
    return RequestError(400, message)


@dataclass
class PredictRequest:
    """A parsed predict request: the signature it names and its columns of JSON values."""

    signature_name: str
    columns: dict[str, list]
    row_format: bool


def parse_predict(body: object, default_signature: str) -> PredictRequest:
    """The signature name and the columns of a TF Serving predict body (shape checks that need
    the signature follow in `check_columns`)."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    name = body.get("signature_name", default_signature)
    if not isinstance(name, str):
        raise bad_request("signature_name: must be a string")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise bad_request("give exactly one of 'instances' (rows) and 'inputs' (columns)")
    if has_rows:
        return PredictRequest(name, _rows_to_columns(body["instances"]), True)
    return PredictRequest(name, _columns(body["inputs"]), False)


SINGLE = ""  # the column name of bare values, given when the signature has a single input


def _rows_to_columns(instances: object) -> dict[str, list]:
    if not isinstance(instances, list) or not instances:
        raise bad_request("instances: must be a non-empty list")
    if not all(isinstance(row, dict) for row in instances):
        if any(isinstance(row, dict) for row in instances):
            raise bad_request("instances: mixes objects and bare values")
        return {SINGLE: list(instances)}
    names = list(instances[0])
    columns: dict[str, list] = {name: [] for name in names}
    for index, row in enumerate(instances):
        if set(row) != set(names):
            differ = sorted(set(row) ^ set(names))
            raise bad_request(f"instances[{index}]: has different inputs than instances[0] "
                              f"({', '.join(differ)})")
        for name in names:
            columns[name].append(row[name])
    return columns


def _columns(inputs: object) -> dict[str, list]:
    if not isinstance(inputs, dict):
        return {SINGLE: inputs if isinstance(inputs, list) else [inputs]}
    return {name: values if isinstance(values, list) else [values]
            for name, values in inputs.items()}


def check_columns(request: PredictRequest, signature: ServingSignature) -> int:
    """Checks the columns against the signature (every input given, no other, consistent
    lengths); names bare values after the single input; returns the batch size."""
    columns = request.columns
    where = "instances" if request.row_format else "inputs"
    if SINGLE in columns:
        if len(signature.input_names) != 1:
            raise bad_request(f"{where}: bare values need a signature with one input; this one "
                              f"has {', '.join(signature.input_names)}")
        columns[signature.input_names[0]] = columns.pop(SINGLE)
    unknown = sorted(set(columns) - set(signature.input_dtypes))
    if unknown:
        raise bad_request(f"{where}: unknown input {', '.join(unknown)} (inputs: "
                          f"{', '.join(signature.input_names)})")
    missing = [name for name in signature.input_names if name not in columns]
    if missing:
        raise bad_request(f"{where}: missing input {', '.join(missing)}")
    sizes = {}
    for name in signature.input_names:
        fixed, size = signature.input_batch[name], len(columns[name])
        if fixed is not None and size != fixed:
            raise bad_request(f"{where}.{name}: takes {fixed} value(s), got {size}")
        if fixed is None:
            sizes[name] = size
    if not sizes:
        return 1
    # the batch is the length most inputs have; the error names an input that differs
    batch = Counter(sizes.values()).most_common(1)[0][0]
    for name, size in sizes.items():
        if size != batch:
            raise bad_request(f"{where}.{name}: {size} values, other inputs have {batch}")
    return batch or 1


def cell_text(value: object, dtype: tf.DType, separator: str | None) -> bytes | None:
    """A JSON value as the bytes of a CSV cell (None for null); ValueError when no cell of
    `dtype` can hold it. A list (a multi-value input) is joined with its `separator`."""
    if value is None:
        return None
    if isinstance(value, list):
        if separator is None:
            raise ValueError("a list where a single value is expected")
        parts = [cell_text(v, dtype, None) for v in value]
        return separator.encode("utf-8").join(p for p in parts if p is not None)
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str) or dtype != tf.string:
            raise ValueError('an object (only {"b64": "..."} for string inputs is allowed)')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise ValueError("b64: not valid base64") from None
    if isinstance(value, bytes):  # a feature store value
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    return str(value).encode("utf-8")


def to_array(values: list, dtype: tf.DType, default: str, separator: str | None,
             describe: Callable[[int], str]) -> np.ndarray:
    """JSON values -> a numpy column of `dtype` (nulls and empty cells: `default`); raises
    RequestError (400) naming `describe(index)` for the first value that does not fit."""
    column = _fast_column(values, dtype, default)
    if column is not None:
        return column
    column = _plain_column(values, dtype)
    if column is None:
        cells = []
        for index, value in enumerate(values):
            try:
                cells.append(cell_text(value, dtype, separator))
            except ValueError as error:
                raise bad_request(f"{describe(index)}: {error}") from None
        column = pa.array(cells, pa.binary())
    converted = convert_column(column, _rule(dtype, default))
    if not converted.valid.all():
        index = int(np.argmin(converted.valid))
        raise bad_request(f"{describe(index)}: {values[index]!r} is not a valid {dtype.name}")
    return converted.values


_PLAIN_KINDS = ((str, pa.string()), (bytes, pa.binary()))
_INTEGERS = {tf.int32: np.int32, tf.int64: np.int64}
# integer cells in canonical decimal (as the feature store keeps them), joined by NUL
_DECIMALS = re.compile(r"-?[0-9]+(?:\x00-?[0-9]+)*", re.ASCII)
_NONE = type(None)


def _fast_column(values: list, dtype: tf.DType, default: str) -> np.ndarray | None:
    """The column built directly, for the values that need no cell parsing: text (or null)
    for a string input; Python ints, or text in canonical decimal, for an integer input
    (nulls and empty text take `default`). The result equals the Arrow path's; None for
    anything else (mixed kinds, blanks, overflow, ...: the Arrow path converts it or names
    the value that does not fit)."""
    kinds = set(map(type, values))
    try:
        if kinds <= {str, _NONE}:
            cells = [value or default for value in values]
            if dtype == tf.string:
                return np.array([cell.encode("utf-8") for cell in cells], dtype=object)
            if dtype in _INTEGERS and _DECIMALS.fullmatch("\x00".join(cells)):
                return np.array(list(map(int, cells)), _INTEGERS[dtype])
        elif kinds <= {int, _NONE} and dtype in _INTEGERS and (
                _NONE not in kinds or _DECIMALS.fullmatch(default)):
            fill = int(default) if _NONE in kinds else 0
            return np.array([fill if value is None else value for value in values],
                            _INTEGERS[dtype])
    except (UnicodeEncodeError, OverflowError, ValueError):
        pass
    return None


def _plain_column(values: list, dtype: tf.DType) -> pa.Array | None:
    """The values as one Arrow column without a cell per value, when that converts them as
    their cell text would: all text of one kind (str or bytes), or all ints for an integer
    input (nulls allowed in both); else None."""
    kinds = {type(v) for v in values} - {type(None)}
    for kind, arrow_type in _PLAIN_KINDS:
        if kinds == {kind}:
            return pa.array(values, arrow_type)
    if kinds == {int} and dtype in (tf.int32, tf.int64):
        return pa.array(values, pa.int64()) if all(
            v is None or -(1 << 63) <= v < (1 << 63) for v in values) else None
    return None


@lru_cache(maxsize=1024)
def _rule(dtype: tf.DType, default: str) -> ColumnRule:
    """The conversion rule of a column (built once: building one parses its default)."""
    return ColumnRule("", dtype, default)


def column_default(signature: ServingSignature, name: str, defaults: dict[str, str]) -> str:
    """The text of a column's empty cell: the config's default_val, else the dtype's zero."""
    return defaults.get(name, zero_text(signature.input_dtypes[name]))


def to_inputs(request: PredictRequest, signature: ServingSignature,
              defaults: dict[str, str]) -> dict[str, np.ndarray]:
    """The request's columns converted to the signature's dtypes."""
    def describe(name: str) -> Callable[[int], str]:
        if request.row_format:
            return lambda index: f"instances[{index}].{name}"
        return lambda index: f"inputs.{name}[{index}]"

    return {name: to_array(request.columns[name], dtype, column_default(signature, name, defaults),
                           signature.list_separators.get(name), describe(name))
            for name, dtype in signature.input_dtypes.items()}


def json_values(values: np.ndarray, output_name: str) -> list:
    """An output as JSON values: numbers as numbers, strings as text (outputs named *_bytes,
    or bytes that are not UTF-8, as {"b64": ...}, as TF Serving writes them)."""
    if values.dtype != object:
        return values.tolist()
    return np.vectorize(lambda v: _text_value(v, output_name), otypes=[object])(values).tolist()


def _text_value(value: bytes, output_name: str) -> str | dict:
    if not output_name.endswith("_bytes"):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def encode_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """The response body of a predict request in the request's form."""
    columns = {name: json_values(values, name) for name, values in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    rows = len(next(iter(columns.values())))
    return {"predictions": [{name: values[i] for name, values in columns.items()}
                            for i in range(rows)]}

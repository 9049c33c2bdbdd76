"""Arrow columns -> numpy arrays in a TensorFlow dtype, with a per-row validity mask.

Text cells follow the rules of the CSV training reader (cell_patterns.py): an empty cell
takes the column's default, a number may be surrounded by blanks, BOOL is 1/0/true/false. A
cell that does not parse marks its row invalid (the row's value is then the default).

Text is handled as bytes (Arrow binary): a string input gets a cell's bytes exactly as the
training reader hashes them, UTF-8 or not, and a numeric cell with bytes that are not UTF-8 is
simply a cell that does not parse.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from easy_rec.tables.column_types import CELL_PATTERNS, zero_text
from easy_rec.tables.errors import PredictError

ARROW_TYPES: dict[tf.DType, pa.DataType] = {
    tf.int32: pa.int32(),
    tf.int64: pa.int64(),
    tf.float32: pa.float32(),
    tf.float64: pa.float64(),
    tf.string: pa.binary(),
    tf.bool: pa.bool_(),
}
_TRUE_TEXT = pa.array(["1", "true"])


@dataclass(frozen=True)
class ColumnRule:
    """How one input column is converted: its name, target dtype and default cell text."""

    name: str
    dtype: tf.DType
    default: str

    def __post_init__(self) -> None:
        if self.dtype not in ARROW_TYPES:
            raise PredictError(f"input {self.name!r}: dtype {self.dtype.name} is not supported")
        _, ok = _text_to_dtype(_text_array([self.default]), self.dtype)
        if not ok.all():
            raise PredictError(f"input {self.name!r}: default {self.default!r} is not a valid "
                               f"{self.dtype.name}")


@dataclass
class ConvertedColumn:
    """A column's values in its target dtype and the mask of rows whose cell parsed."""

    values: np.ndarray
    valid: np.ndarray


def convert_column(column: pa.Array | pa.ChunkedArray, rule: ColumnRule) -> ConvertedColumn:
    """Converts one Arrow column (text or typed) following `rule`; nulls take the default."""
    array = _plain_array(column)
    if _is_text(array.type):
        filled = _fill_text(pc.cast(array, pa.binary()), rule.default)
        values, valid = _text_to_dtype(filled, rule.dtype)
    else:
        values, valid = _typed_to_dtype(array, rule)
    return ConvertedColumn(_to_numpy(values, rule.dtype), valid)


def _plain_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) \
        or pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)


def _text_array(cells: list[str]) -> pa.Array:
    """Python strings as a binary column of their UTF-8 bytes."""
    return pa.array([c.encode("utf-8") for c in cells], pa.binary())


def _binary_scalar(text: str) -> pa.Scalar:
    return pa.scalar(text.encode("utf-8"), pa.binary())


def _fill_text(array: pa.Array, default: str) -> pa.Array:
    """Nulls and empty cells of a binary column replaced by `default`."""
    filled = pc.fill_null(array, _binary_scalar(default))
    if default == "":
        return filled
    return pc.if_else(pc.equal(filled, _binary_scalar("")), _binary_scalar(default), filled)


def _text_to_dtype(text: pa.Array, dtype: tf.DType) -> tuple[pa.Array, np.ndarray]:
    """Parses null-free binary cells; invalid cells become the dtype's zero and are masked.
    Cells the pattern accepts are ASCII, so only those are ever decoded."""
    if dtype == tf.string:
        return text, np.ones(len(text), dtype=bool)
    valid = pc.match_substring_regex(text, f"^(?:{CELL_PATTERNS[dtype]})$")
    ascii_text = pc.cast(pc.if_else(valid, text, _binary_scalar(zero_text(dtype))), pa.string())
    stripped = pc.utf8_trim_whitespace(ascii_text)
    if dtype == tf.bool:
        return pc.is_in(pc.utf8_lower(stripped), value_set=_TRUE_TEXT), _mask(valid)
    unsigned = pc.replace_substring_regex(stripped, pattern=r"^\+", replacement="")
    values, cast_ok = _cast_checked(unsigned, ARROW_TYPES[dtype])
    return values, _mask(valid) & cast_ok


def _typed_to_dtype(array: pa.Array, rule: ColumnRule) -> tuple[pa.Array, np.ndarray]:
    """Typed (e.g. Parquet) values cast to the rule's dtype (strings: their text as UTF-8
    bytes); nulls take the default."""
    if rule.dtype == tf.string:
        array = pc.cast(array, pa.string())
    values, valid = _cast_checked(array, ARROW_TYPES[rule.dtype])
    default, _ = _text_to_dtype(_text_array([rule.default]), rule.dtype)
    return pc.fill_null(values, default[0]), valid


def _cast_checked(array: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Safe cast; when some values do not fit (overflow, fractions, bad text), those are
    found one by one, set to null and masked invalid."""
    try:
        return pc.cast(array, target), np.ones(len(array), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values, valid = [], np.ones(len(array), dtype=bool)
    for i, item in enumerate(array):
        try:
            values.append(item.cast(target).as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values.append(None)
            valid[i] = False
    return pa.array(values, type=target), valid


def _mask(boolean: pa.Array) -> np.ndarray:
    return boolean.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _to_numpy(values: pa.Array, dtype: tf.DType) -> np.ndarray:
    """Null-free Arrow values as a numpy array TensorFlow takes as `dtype`."""
    if dtype == tf.string:
        return values.to_numpy(zero_copy_only=False)
    return values.fill_null(False if dtype == tf.bool else 0).to_numpy(zero_copy_only=False)

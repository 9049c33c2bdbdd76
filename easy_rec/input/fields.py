"""Input field types: mapping the config's FieldType enum onto TensorFlow dtypes and defaults."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input import cell_patterns
from easy_rec.protos import dataset_pb2

_Field = dataset_pb2.DatasetConfig.Field
_TYPES = dataset_pb2.DatasetConfig

FIELD_DTYPES: dict[int, tf.DType] = {
    _TYPES.INT32: tf.int32,
    _TYPES.INT64: tf.int64,
    _TYPES.STRING: tf.string,
    _TYPES.FLOAT: tf.float32,
    _TYPES.DOUBLE: tf.float64,
    _TYPES.BOOL: tf.bool,
}

_FIELD_TYPES: dict[tf.DType, int] = {dtype: field_type for field_type, dtype in FIELD_DTYPES.items()}


def cell_pattern(dtype: tf.DType, blanks: str = r"\s") -> str:
    """RE2 pattern of a valid non-empty cell of a numeric or bool `dtype` (cell_patterns.py);
    `blanks` is the character class of the blanks allowed around the value."""
    return cell_patterns.cell_pattern(_FIELD_TYPES[dtype], blanks)


# RE2 patterns a CSV cell must fully match to be parsed as the field's type
CELL_PATTERNS: dict[tf.DType, str] = {
    dtype: cell_pattern(dtype) for dtype in FIELD_DTYPES.values() if dtype != tf.string}


def field_dtype(field: _Field) -> tf.DType:
    """TensorFlow dtype of an input field."""
    return FIELD_DTYPES[field.input_type]


def default_cell(field: _Field) -> str:
    """Text that stands for an empty cell of `field` (its default_val, else a zero value)."""
    if field.HasField("default_val"):
        return field.default_val
    return "" if field_dtype(field) == tf.string else ("false" if field_dtype(field) == tf.bool else "0")


def parse_cells(cells: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Converts validated text cells to `dtype` (no check; see CELL_PATTERNS)."""
    if dtype == tf.string:
        return cells
    if dtype == tf.bool:
        lowered = tf.strings.lower(tf.strings.strip(cells))
        return tf.logical_or(tf.equal(lowered, "true"), tf.equal(lowered, "1"))
    return tf.strings.to_number(cells, out_type=dtype)  # accepts surrounding blanks


def cells_valid(cells: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Boolean mask of the cells that parse as `dtype`."""
    if dtype == tf.string:
        return tf.ones_like(cells, dtype=tf.bool)
    return tf.strings.regex_full_match(cells, CELL_PATTERNS[dtype])


def parse_default(text: str, dtype: tf.DType) -> object:
    """Python value of a field's default text, or None when it is not a valid `dtype`."""
    if dtype == tf.string:
        return text
    if not cell_patterns.is_valid_cell(text, _FIELD_TYPES[dtype]):
        return None
    if dtype == tf.bool:
        return text.strip().lower() in ("1", "true")
    return int(text) if dtype.is_integer else float(text)

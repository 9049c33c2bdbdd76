"""Input field types: mapping the config's fields onto TensorFlow dtypes, defaults and parsing ops."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.protos import dataset_pb2
from easy_rec.tables import cell_patterns
from easy_rec.tables.column_types import CELL_PATTERNS, FIELD_DTYPES, FIELD_TYPES, zero_text

_Field = dataset_pb2.DatasetConfig.Field


def in_range_pattern(dtype: tf.DType, blanks: str) -> str:
    """RE2 pattern of a valid non-empty cell of a numeric or bool `dtype` (cell_patterns.py),
    integers limited to digit counts that cannot overflow; `blanks` is the character class of
    the blanks allowed around the value."""
    return cell_patterns.in_range_pattern(FIELD_TYPES[dtype], blanks)


def field_dtype(field: _Field) -> tf.DType:
    """TensorFlow dtype of an input field."""
    return FIELD_DTYPES[field.input_type]


def column_dtypes(data_config: dataset_pb2.DatasetConfig) -> dict[str, tf.DType]:
    """Input field name -> its TensorFlow dtype, for every input field."""
    return {f.input_name: field_dtype(f) for f in data_config.input_fields}


def default_cell(field: _Field) -> str:
    """Text that stands for an empty cell of `field` (its default_val, else a zero value)."""
    if field.HasField("default_val"):
        return field.default_val
    return zero_text(field_dtype(field))


def parse_cells(cells: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Converts validated text cells to `dtype` (no check; see CELL_PATTERNS)."""
    if dtype == tf.string:
        return cells
    if dtype == tf.bool:
        lowered = tf.strings.lower(tf.strings.strip(cells))
        return tf.logical_or(tf.equal(lowered, "true"), tf.equal(lowered, "1"))
    return tf.strings.to_number(cells, out_type=dtype)  # accepts surrounding blanks


def cells_valid(cells: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Boolean mask of the cells that parse as `dtype` (integers within its range)."""
    if dtype == tf.string:
        return tf.ones_like(cells, dtype=tf.bool)
    valid = tf.strings.regex_full_match(cells, CELL_PATTERNS[dtype])
    if dtype.is_integer:
        valid = tf.logical_and(valid, _ints_in_range(cells, valid, FIELD_TYPES[dtype]))
    return valid


def _ints_in_range(cells: tf.Tensor, valid: tf.Tensor, field_type: int) -> tf.Tensor:
    """Whether integer cells that match the pattern lie in the type's range, exactly and
    without converting any number that could overflow: the digits (sign and leading zeros
    removed) are compared with the limit's as a 10-digit head and a tail of at most 9."""
    low, high = cell_patterns.INT_RANGES[field_type]
    text = tf.strings.strip(tf.where(valid, cells, "0"))
    negative = tf.strings.regex_full_match(text, "-.*")
    digits = tf.strings.regex_replace(text, "^[-+]?0*", "")
    length = tf.strings.length(digits)
    limit_digits = len(str(high))
    zeros = tf.strings.substr(tf.fill(tf.shape(digits), "0" * limit_digits),
                              tf.zeros_like(length), tf.maximum(limit_digits - length, 0))
    padded = tf.strings.join([zeros, digits])
    head_width = limit_digits - 9
    fits = tf.less_equal(length, limit_digits)
    safe = tf.where(fits, padded, "0" * limit_digits)
    head = tf.strings.to_number(tf.strings.substr(safe, 0, head_width), tf.int64)
    tail = tf.strings.to_number(tf.strings.substr(safe, head_width, 9), tf.int64)
    (high_head, high_tail), (low_head, low_tail) = (divmod(abs(v), 10**9) for v in (high, low))
    head_limit = tf.where(negative, tf.constant(low_head, tf.int64), high_head)
    tail_limit = tf.where(negative, tf.constant(low_tail, tf.int64), high_tail)
    within = tf.logical_or(head < head_limit,
                           tf.logical_and(tf.equal(head, head_limit), tail <= tail_limit))
    return tf.logical_and(fits, within)


def parse_default(text: str, dtype: tf.DType) -> object:
    """Python value of a field's default text, or None when it is not a valid `dtype`."""
    if dtype == tf.string:
        return text
    if not cell_patterns.is_valid_cell(text, FIELD_TYPES[dtype]):
        return None
    if dtype == tf.bool:
        return text.strip().lower() in ("1", "true")
    return int(text) if dtype.is_integer else float(text)

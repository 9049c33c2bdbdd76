"""Column types: the config's FieldType enum and the TensorFlow dtypes of table columns."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.protos import dataset_pb2
from easy_rec.tables import cell_patterns

_TYPES = dataset_pb2.DatasetConfig

FIELD_DTYPES: dict[int, tf.DType] = {
    _TYPES.INT32: tf.int32,
    _TYPES.INT64: tf.int64,
    _TYPES.STRING: tf.string,
    _TYPES.FLOAT: tf.float32,
    _TYPES.DOUBLE: tf.float64,
    _TYPES.BOOL: tf.bool,
}

# the FieldType of each dtype (inverse of FIELD_DTYPES)
FIELD_TYPES: dict[tf.DType, int] = {dtype: field_type for field_type, dtype in FIELD_DTYPES.items()}

# RE2 patterns a text cell must fully match to be parsed as a numeric or bool dtype
CELL_PATTERNS: dict[tf.DType, str] = {
    dtype: cell_patterns.cell_pattern(FIELD_TYPES[dtype])
    for dtype in FIELD_DTYPES.values() if dtype != tf.string}


def zero_text(dtype: tf.DType) -> str:
    """Text of a dtype's zero value: '' for strings, 'false' for bools, '0' for numbers."""
    if dtype == tf.string:
        return ""
    return "false" if dtype == tf.bool else "0"

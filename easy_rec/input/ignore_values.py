"""data_config.input_fields[].ignore_val: a value that stands for "missing".

EasyRec drops the values equal to a field's ignore_val before building features (its
ParquetInputV3). Here, for every reader, a cell equal to ignore_val (compared as the field's
type: "-1" matches -1 and -1.0 of a FLOAT field) is read as an empty cell would be: it takes
the field's default_val (else 0, "" or false). Items equal to it are dropped from Parquet list
columns, which have no default per item. An empty ignore_val changes nothing (empty cells are
missing already; EasyRec skips it too).

`apply_rules` is mapped over any reader's batches (mapped_reader.py).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.protos import dataset_pb2

# field name -> (ignored value, replacement), both of the field's dtype
Rules = dict[str, tuple[tf.Tensor, tf.Tensor]]


def ignore_rules(data_config: dataset_pb2.DatasetConfig, columns: set[str]) -> Rules:
    """The ignore_val rules of the fields among `columns` (config checks have made sure that
    ignore_val and default_val are valid values of the field's type)."""
    rules = {}
    for field in data_config.input_fields:
        if not field.ignore_val or field.input_name not in columns:  # "": cells are empty
            continue
        dtype = field_types.field_dtype(field)
        ignored = field_types.parse_default(field.ignore_val, dtype)
        default = field_types.parse_default(field_types.default_cell(field), dtype)
        rules[field.input_name] = (tf.constant(ignored, dtype), tf.constant(default, dtype))
    return rules


def apply_rules(batch: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """`batch` with the ignored values replaced by the default ([batch] columns) or dropped
    (ragged list columns)."""
    batch = dict(batch)
    for name, (ignored, default) in rules.items():
        values = batch[name]
        if isinstance(values, tf.RaggedTensor):
            batch[name] = tf.ragged.boolean_mask(values, tf.not_equal(values, ignored))
        else:
            batch[name] = tf.where(tf.equal(values, ignored), default, values)
    return batch


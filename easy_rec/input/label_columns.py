"""Multi-dimensional label columns: data_config.label_dim / label_sep, as EasyRec reads them.

label_dim[i] is the width of label_fields[i] (missing entries: 1). A label of width d > 1 is
a STRING column holding d numbers joined by label_sep[i] (e.g. a teacher's soft labels for
knowledge distillation, "0.1|0.7|0.2"); the readers' batches carry it as a [batch, d] float32
tensor. An empty label_sep splits the cell into single characters, as TF1's string_split
(EasyRec's) does: "01001" with label_dim 5 is [0, 1, 0, 0, 1].

`split_labels` is mapped over any reader's batches (mapped_reader.py).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from easy_rec.protos import dataset_pb2


def label_widths(data_config: dataset_pb2.DatasetConfig) -> dict[str, tuple[int, str]]:
    """label field -> (width, separator) for the labels wider than one value."""
    dims, seps = list(data_config.label_dim), list(data_config.label_sep)
    return {name: (int(dims[i]), seps[i] if i < len(seps) else "")
            for i, name in enumerate(data_config.label_fields)
            if i < len(dims) and dims[i] > 1}


def split_label(cells: tf.Tensor, width: int, separator: str, name: str) -> tf.Tensor:
    """[batch] strings -> [batch, width] float32; InvalidArgumentError naming the column when
    a cell does not hold `width` numbers."""
    cells = tf.reshape(cells, [-1])
    parts = tf.strings.bytes_split(cells) if not separator else tf.strings.split(cells, separator)
    check = tf.debugging.assert_equal(
        parts.row_lengths(), tf.cast(width, tf.int64),
        message=f"label column {name!r} must hold label_dim = {width} values per row "
                f"(joined by label_sep {separator!r})")
    with tf.control_dependencies([check]):
        values = tf.strings.to_number(parts.flat_values, tf.float32)
    return tf.reshape(values, [-1, width])



def split_labels(batch: dict[str, Any], widths: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """`batch` with its wide label columns (label_widths) as [batch, width] floats."""
    batch = dict(batch)
    for name, (width, separator) in widths.items():
        batch[name] = split_label(batch[name], width, separator, name)
    return batch


def label_specs(widths: dict[str, tuple[int, str]]) -> dict[str, tf.TensorSpec]:
    """The output_signature entries of the split label columns."""
    return {name: tf.TensorSpec([None, width], tf.float32) for name, (width, _) in widths.items()}

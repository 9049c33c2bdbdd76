"""Packs the columns of a block of rows into three tensors, so tf.data moves rows cheaply.

tf.data's per-element cost grows with the number of components, and rows with ragged
components are slow to unbatch and re-batch. A packed row has up to three fixed-shape
components, each present only when there are such columns (a zero-width component would be
wasted work, and unbatching a zero-width string tensor crashes TensorFlow 2.21):

- ``numbers`` [k] int64: every int / bool / float column, bit-exact (floats are bit-cast);
- ``texts`` [m] string: every plain string column;
- ``lists`` scalar string: the list columns, tokens joined by TOKEN_SEP, lists by LIST_SEP.

Tokens of list columns are never empty (readers drop empty tokens) and must not contain
SEPARATORS (the ASCII record / unit separators; the Parquet reader checks).
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

TOKEN_SEP = "\x1e"
LIST_SEP = "\x1f"
SEPARATORS = (TOKEN_SEP, LIST_SEP)


@dataclass(frozen=True)
class PackedColumn:
    name: str
    dtype: tf.DType
    is_list: bool = False


def _to_int64(values: tf.Tensor) -> tf.Tensor:
    if values.dtype == tf.float32:
        return tf.cast(tf.bitcast(values, tf.int32), tf.int64)
    if values.dtype == tf.float64:
        return tf.bitcast(values, tf.int64)
    return tf.cast(values, tf.int64)


def _from_int64(values: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    if dtype == tf.float32:
        return tf.bitcast(tf.cast(values, tf.int32), tf.float32)
    if dtype == tf.float64:
        return tf.bitcast(values, tf.float64)
    if dtype == tf.bool:
        return tf.not_equal(values, 0)
    return tf.cast(values, dtype)


class RowPacker:
    """Packs {column: [n] tensor or [n, None] ragged} into (numbers, texts, lists) and back."""

    def __init__(self, columns: list[PackedColumn]):
        if not columns:
            raise ValueError("RowPacker needs at least one column")
        self.columns = list(columns)
        self._numbers = [c for c in self.columns if not c.is_list and c.dtype != tf.string]
        self._texts = [c for c in self.columns if not c.is_list and c.dtype == tf.string]
        self._lists = [c for c in self.columns if c.is_list]

    def pack(self, values: dict[str, tf.Tensor | tf.RaggedTensor]) -> tuple[tf.Tensor, ...]:
        """Block of n rows -> (numbers [n, k] int64, texts [n, m] string, lists [n] string),
        leaving out the parts without columns."""
        parts = []
        if self._numbers:
            parts.append(tf.stack([_to_int64(values[c.name]) for c in self._numbers], axis=1))
        if self._texts:
            parts.append(tf.stack([values[c.name] for c in self._texts], axis=1))
        if self._lists:
            joined = [tf.strings.reduce_join(values[c.name], axis=1, separator=TOKEN_SEP)
                      for c in self._lists]
            parts.append(tf.strings.join(joined, separator=LIST_SEP))
        return tuple(parts)

    def unpack(self, *parts: tf.Tensor) -> dict[str, tf.Tensor | tf.RaggedTensor]:
        """Inverse of `pack` (for any batch of packed rows)."""
        remaining = list(parts)
        out: dict[str, tf.Tensor | tf.RaggedTensor] = {}
        if self._numbers:
            numbers = remaining.pop(0)
            for i, c in enumerate(self._numbers):
                out[c.name] = _from_int64(numbers[:, i], c.dtype)
        if self._texts:
            texts = remaining.pop(0)
            for i, c in enumerate(self._texts):
                out[c.name] = texts[:, i]
        if self._lists:
            out.update(self._unpack_lists(remaining.pop(0)))
        return {c.name: out[c.name] for c in self.columns}

    def _unpack_lists(self, lists: tf.Tensor) -> dict[str, tf.RaggedTensor]:
        fields = tf.strings.split(lists, LIST_SEP).to_tensor("", shape=[None, len(self._lists)])
        out = {}
        for i, c in enumerate(self._lists):
            tokens = tf.strings.split(fields[:, i], TOKEN_SEP)
            out[c.name] = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
        return out

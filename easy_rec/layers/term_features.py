"""What MappedDotProduct and OverlapFeature share: separator-joined term strings split into a
padded term matrix, and bucketised values embedded per column.

EasyRec computes both components with custom TensorFlow ops (not public); here they are plain
TensorFlow string ops. Strings come one per example ([batch] or [batch, 1]); empty terms
(two separators in a row, or an empty string) are dropped.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.field_interaction import glorot_uniform

DEFAULT_SEPARATOR = "\x1d"  # EasyRec's multi-value separator, '\035'


def split_terms(strings: tf.Tensor, separator: str) -> tf.RaggedTensor:
    """[batch] (or [batch, 1]) strings -> ragged [batch, (terms)] of their non-empty terms."""
    terms = tf.strings.split(tf.reshape(strings, [-1]), sep=separator)
    return tf.ragged.boolean_mask(terms, tf.strings.length(terms) > 0)


def padded(terms: tf.RaggedTensor, width: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Dense [batch, width] terms ('' after the end) and the [batch, width] mask of real ones."""
    dense = terms.to_tensor(default_value="")
    if width is not None:
        dense = tf.pad(dense, [[0, 0], [0, tf.cast(width, tf.int32) - tf.shape(dense)[1]]])
    lengths = terms.row_lengths()
    mask = tf.range(tf.shape(dense, out_type=tf.int64)[1])[None, :] < lengths[:, None]
    return dense, mask


class BucketEmbedding(tf.Module):
    """Bucketises M value columns by `boundaries` (a value equal to a boundary goes to the
    bucket above it) and, with embedding_dim > 0, embeds column m's bucket in its own block of
    len(boundaries) + 1 rows of one table: [batch, M] -> [batch, M * embedding_dim]."""

    def __init__(self, boundaries: Sequence[float], num_columns: int, embedding_dim: int,
                 name: str | None = None):
        super().__init__(name=name)
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries must be sorted, got {list(boundaries)}")
        self._boundaries = [float(b) for b in boundaries]
        self._buckets = len(self._boundaries) + 1
        self._columns = num_columns
        with self.name_scope:
            self.table = (tf.Variable(glorot_uniform([self._buckets * num_columns,
                                                      embedding_dim]), name="table")
                          if embedding_dim > 0 else None)
        self.output_dim = num_columns * (embedding_dim or 1)

    def __call__(self, values: tf.Tensor) -> tf.Tensor:
        """[batch, M] float values -> bucket ids as float [batch, M], or their embeddings."""
        buckets = tf.raw_ops.Bucketize(input=values, boundaries=self._boundaries)
        if self.table is None:
            return tf.cast(buckets, tf.float32)
        rows = buckets + tf.range(self._columns)[None, :] * self._buckets
        embedded = tf.gather(self.table, rows)  # [batch, M, D]
        return tf.reshape(embedded, [-1, self.output_dim])

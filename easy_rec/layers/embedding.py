"""Embedding tables whose gradients stay sparse (tf.gather -> tf.IndexedSlices)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.protos import hyperparams_pb2

COMBINERS = ("sum", "mean", "sqrtn")


def make_initializer(config: hyperparams_pb2.Initializer | None, dim: int):
    """Initializer function (shape -> tensor) from a config; default truncated normal 1/sqrt(dim)."""
    kind = config.WhichOneof("initializer_oneof") if config is not None else None
    if kind == "random_normal_initializer":
        c = config.random_normal_initializer
        return lambda shape: tf.random.normal(shape, c.mean, c.stddev)
    if kind == "glorot_normal_initializer":
        return lambda shape: tf.random.truncated_normal(shape, 0.0, (2.0 / sum(shape)) ** 0.5)
    if kind == "constant_initializer":
        consts = list(config.constant_initializer.consts) or [0.0]
        return lambda shape: tf.broadcast_to(tf.constant(consts, tf.float32), shape)
    if kind == "truncated_normal_initializer":
        c = config.truncated_normal_initializer
        return lambda shape: tf.random.truncated_normal(shape, c.mean, c.stddev)
    return lambda shape: tf.random.truncated_normal(shape, 0.0, 1.0 / dim ** 0.5)


class EmbeddingTable(tf.Module):
    """A [num_ids, dim] table; lookups produce IndexedSlices gradients (sparse updates)."""

    def __init__(self, num_ids: int, dim: int, initializer=None, name: str | None = None):
        super().__init__(name=name)
        init = initializer or make_initializer(None, dim)
        self.num_ids = int(num_ids)
        self.dim = int(dim)
        with self.name_scope:
            self.weights = tf.Variable(init([self.num_ids, self.dim]), name="weights")

    def lookup(self, ids: tf.Tensor) -> tf.Tensor:
        """[batch] ids -> [batch, dim]."""
        return tf.gather(self.weights, ids)

    def lookup_multi(self, ids: tf.RaggedTensor, weights: tf.RaggedTensor | None,
                     combiner: str) -> tf.Tensor:
        """Ragged [batch, None] ids (optionally weighted) -> combined [batch, dim]; empty rows -> 0."""
        rows = ids.value_rowids()
        nrows = ids.nrows()
        vectors = tf.gather(self.weights, ids.flat_values)
        w = weights.flat_values if weights is not None else tf.ones_like(ids.flat_values, tf.float32)
        summed = tf.math.unsorted_segment_sum(vectors * w[:, None], rows, nrows)
        if combiner == "sum":
            return summed
        if combiner == "mean":
            norm = tf.math.unsorted_segment_sum(w, rows, nrows)
        elif combiner == "sqrtn":
            norm = tf.sqrt(tf.math.unsorted_segment_sum(w * w, rows, nrows))
        else:
            raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")
        return tf.math.divide_no_nan(summed, norm[:, None])

    def lookup_sequence(self, ids: tf.RaggedTensor, max_len: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Ragged [batch, None] ids -> ([batch, max_len, dim] right-padded with zeros, [batch,
        max_len] bool mask). With [batch, None, None] ids (several values per element) each
        element is the mean of its values' embeddings."""
        if ids.ragged_rank == 2:
            elements = self.lookup_multi(ids.values, None, "mean")
            vectors = tf.RaggedTensor.from_row_splits(elements, ids.row_splits, validate=False)
        else:
            vectors = ids.with_flat_values(tf.gather(self.weights, ids.flat_values))
        padded = vectors.to_tensor(shape=[None, max_len, self.dim])
        return padded, tf.sequence_mask(vectors.row_lengths(), max_len)


"""Embedding tables whose gradients stay sparse (tf.gather -> tf.IndexedSlices).

An embedding table E [num_ids, dim] maps id i to its row e_i (Mikolov et al., "Distributed
Representations of Words and Phrases and their Compositionality", NeurIPS 2013; as every
deep recommender, e.g. Covington et al., "Deep Neural Networks for YouTube Recommendations",
RecSys 2016). A multi-valued feature with ids i_1..i_n and weights w_1..w_n combines its rows:

    sum: sum_j w_j e_{i_j}    mean: sum / sum_j w_j    sqrtn: sum / sqrt(sum_j w_j^2)

Shapes: lookup [batch] -> [batch, dim]; lookup_multi ragged [batch, None] -> [batch, dim];
lookup_sequence ragged [batch, None] -> ([batch, max_len, dim], mask [batch, max_len]).

Every row a table hands out comes through `EmbeddingTable.rows`; inside `row_sources(...)` a
table's rows come from the function given for it instead of its variable (the split export,
easy_rec/export/split.py, records the ids there and later feeds rows fetched from Redis).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.registry import register_layer

COMBINERS = ("sum", "mean", "sqrtn")
INITIALIZERS = ("truncated_normal", "random_normal", "glorot_normal", "constant")
Initializer = Callable[[list[int]], tf.Tensor]
#: ids (any shape) -> their rows (the ids' shape + [dim])
RowSource = Callable[[tf.Tensor], tf.Tensor]
_ROW_SOURCES: contextvars.ContextVar[dict[int, RowSource] | None] = contextvars.ContextVar(
    "row_sources", default=None)


@contextlib.contextmanager
def row_sources(sources: Mapping[EmbeddingTable, RowSource]) -> Iterator[None]:
    """While active (e.g. while a tf.function traces), the named tables take their rows from
    the given functions and never read their variables."""
    token = _ROW_SOURCES.set({**(_ROW_SOURCES.get() or {}), **{id(t): s for t, s in sources.items()}})
    try:
        yield
    finally:
        _ROW_SOURCES.reset(token)


#: stddev of the default initializer is DEFAULT_STDDEV_SCALE / sqrt(dim), as EasyRec's
#: embedding columns (small initial embeddings keep the first steps' FM / wide terms near 0)
DEFAULT_STDDEV_SCALE = 0.01


def make_initializer(dim: int, kind: str = "", mean: float = 0.0, stddev: float = 1.0,
                     consts: Sequence[float] = ()) -> Initializer:
    """Initializer function (shape -> tensor) of one of INITIALIZERS: a (truncated) normal
    with mean / stddev, glorot normal, or `consts` broadcast (0 when empty); with no kind a
    normal of stddev 0.01 / sqrt(dim) truncated at 2 stddev (EasyRec's default)."""
    if kind == "random_normal":
        return lambda shape: tf.random.normal(shape, mean, stddev)
    if kind == "glorot_normal":
        return lambda shape: tf.random.truncated_normal(shape, 0.0, (2.0 / sum(shape)) ** 0.5)
    if kind == "constant":
        values = list(consts) or [0.0]
        return lambda shape: tf.broadcast_to(tf.constant(values, tf.float32), shape)
    if kind == "truncated_normal":
        return lambda shape: tf.random.truncated_normal(shape, mean, stddev)
    if kind:
        raise ValueError(f"unknown initializer {kind!r}; known: {', '.join(INITIALIZERS)}")
    return lambda shape: tf.random.truncated_normal(shape, 0.0, DEFAULT_STDDEV_SCALE / dim ** 0.5)


#: True while an EmbeddingTable creates its weights: a variable partitioner (parameter-server
#: training, easy_rec.distribute) shards these variables and leaves all others whole
CREATING_TABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("creating_embedding_table",
                                                                     default=False)


@register_layer("EmbeddingTable")
class EmbeddingTable(Layer):
    """A [num_ids, dim] table; lookups produce IndexedSlices gradients (sparse updates).

    Its rows are no kernel: embedding_regularization applies to looked-up rows instead.
    """

    def __init__(self, num_ids: int, dim: int, initializer: Initializer | None = None,
                 name: str | None = None):
        super().__init__(name=name)
        init = initializer or make_initializer(dim)
        self.num_ids = int(num_ids)
        self.dim = int(dim)
        token = CREATING_TABLE.set(True)
        try:
            with self.name_scope:
                self.weights = tf.Variable(init([self.num_ids, self.dim]), name="weights")
        finally:
            CREATING_TABLE.reset(token)

    @property
    def parts(self) -> list[tf.Variable]:
        """The variables holding the table: its shards when it is sharded across parameter
        servers, else the one variable."""
        return list(getattr(self.weights, "variables", None) or [self.weights])

    def rows(self, ids: tf.Tensor) -> tf.Tensor:
        """The rows of `ids` (any shape -> shape + [dim]): the active row source's
        (row_sources), else the variable's by embedding_lookup, a gather that also spreads
        over the shards of a table sharded across parameter servers (only the looked-up rows
        travel)."""
        source = (_ROW_SOURCES.get() or {}).get(id(self))
        return tf.nn.embedding_lookup(self.weights, ids) if source is None else source(ids)

    def lookup(self, ids: tf.Tensor) -> tf.Tensor:
        """[batch] ids -> [batch, dim]."""
        return self.rows(ids)

    def lookup_multi(self, ids: tf.RaggedTensor, weights: tf.RaggedTensor | None,
                     combiner: str) -> tf.Tensor:
        """Ragged [batch, None] ids (optionally weighted) -> combined [batch, dim]; empty rows -> 0."""
        rows = ids.value_rowids()
        nrows = ids.nrows()
        vectors = self.rows(ids.flat_values)
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

    def lookup_sequence(self, ids: tf.RaggedTensor, max_len: int,
                        weights: tf.RaggedTensor | None = None,
                        combiner: str = "mean") -> tuple[tf.Tensor, tf.Tensor]:
        """Ragged [batch, None] ids -> ([batch, max_len, dim] right-padded with zeros, [batch,
        max_len] bool mask); with `weights` each row is scaled by its weight. With [batch, None,
        None] ids (several values per element) each element combines its values' (weighted)
        embeddings with `combiner`."""
        if ids.ragged_rank == 2:
            elements = self.lookup_multi(ids.values, None if weights is None else weights.values,
                                         combiner)
            vectors = tf.RaggedTensor.from_row_splits(elements, ids.row_splits, validate=False)
        else:
            rows = self.rows(ids.flat_values)
            if weights is not None:
                rows *= weights.flat_values[:, None]
            vectors = ids.with_flat_values(rows)
        padded = vectors.to_tensor(shape=[None, max_len, self.dim])
        return padded, tf.sequence_mask(vectors.row_lengths(), max_len)


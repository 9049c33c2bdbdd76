"""One embedding table shared by several categorical features (EasyRec's `EmbeddingLayer`).

Feature k has ids in [0, V_k); it reads rows offset_k + id of one table E of
sum_k V_k rows, offset_k = V_1 + ... + V_{k-1}, so one lookup serves every feature and each
keeps its own rows (EasyRec's backbone `embedding_layer` block builds it over a feature group,
its vocab_size being that sum). A multi-valued feature (ids i_1..i_n, optional weights
w_1..w_n) combines its rows e_j with `combiner`:

    weight: sum_j w_j e_j / sum_j w_j   (mean without weights)    mean: sum_j e_j / n
    sum:    sum_j w_j e_j               max / min: elementwise over j

A row without ids gives 0. The table starts uniform in [-0.05, 0.05] (Keras' Embedding).

Shapes: inputs (ids, weights): ids a list of K tensors, each [batch] (one id), [batch, n] or
ragged [batch, None] (several); weights a list of K entries, None or like the ids ->
[batch, K * dim] with `concat`, else a list of K [batch, dim] tensors.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.registry import register_layer

COMBINERS = ("weight", "mean", "sum", "max", "min")
Ids = tf.Tensor | tf.RaggedTensor


@register_layer("EmbeddingLayer")
class FusedEmbedding(Layer):
    """Embeds ids already offset into one shared table and combines multi-valued ones."""

    def __init__(self, vocab_size: int, embedding_dim: int, combiner: str = "weight",
                 concat: bool = True, name: str | None = None):
        super().__init__(name=name)
        if vocab_size < 1 or embedding_dim < 1:
            raise ValueError(f"vocab_size and embedding_dim must be >= 1, got {vocab_size}, "
                             f"{embedding_dim}")
        if combiner not in COMBINERS:
            raise ValueError(f"combiner must be one of {', '.join(COMBINERS)}, got {combiner!r}")
        self.combiner, self.concat, self.dim = combiner, concat, int(embedding_dim)
        with self.name_scope:
            self.embeddings = tf.Variable(
                tf.random.uniform([int(vocab_size), self.dim], -0.05, 0.05), name="embeddings")

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str  # noqa: ARG003
                    ) -> FusedEmbedding:
        params.require("vocab_size", "embedding_dim")
        return cls(params.get("vocab_size", 0, int), params.get("embedding_dim", 0, int),
                   params.get("combiner", "weight", str), params.get("concat", True, bool),
                   name=name)

    def __call__(self, inputs: tuple[Sequence[Ids], Sequence[Ids | None]],
                 training: bool = False) -> tf.Tensor | list[tf.Tensor]:  # noqa: ARG002
        ids, weights = inputs
        outputs = [self._embed(i, w) for i, w in zip(ids, weights)]
        return tf.concat(outputs, axis=-1) if self.concat else outputs

    def _embed(self, ids: Ids, weights: Ids | None) -> tf.Tensor:
        if isinstance(ids, tf.Tensor) and ids.shape.rank == 1:
            return tf.gather(self.embeddings, ids)
        if isinstance(ids, tf.Tensor):
            ids = tf.RaggedTensor.from_tensor(ids)
            weights = None if weights is None else tf.RaggedTensor.from_tensor(weights)
        if ids.ragged_rank == 2:
            ids = ids.merge_dims(1, 2)
            weights = None if weights is None else weights.merge_dims(1, 2)
        rows, nrows = ids.value_rowids(), ids.nrows()
        vectors = tf.gather(self.embeddings, ids.flat_values)
        if self.combiner in ("max", "min"):
            reduce = (tf.math.unsorted_segment_max if self.combiner == "max"
                      else tf.math.unsorted_segment_min)
            counts = tf.math.bincount(tf.cast(rows, tf.int32), minlength=tf.cast(nrows, tf.int32))
            combined = reduce(vectors, rows, nrows)
            return tf.where(counts[:, None] > 0, combined, tf.zeros_like(combined))
        use_weights = weights is not None and self.combiner != "mean"
        w = tf.cast(weights.flat_values, tf.float32) if use_weights \
            else tf.ones_like(ids.flat_values, tf.float32)
        summed = tf.math.unsorted_segment_sum(vectors * w[:, None], rows, nrows)
        if self.combiner == "sum":
            return summed
        total = tf.math.unsorted_segment_sum(w, rows, nrows)
        return tf.math.divide_no_nan(summed, total[:, None])

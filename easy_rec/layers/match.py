"""Building blocks of two-tower (matching) models: embedding towers, similarity scores and the
masked softmax cross entropy of in-batch / sampled negatives.

A two-tower model (Huang et al., "Learning Deep Structured Semantic Models for Web Search
using Clickthrough Data" (DSSM), CIKM 2013; Yi et al., "Sampling-Bias-Corrected Neural
Modeling for Large Corpus Item Recommendations", RecSys 2019) embeds users u and items v
separately and scores a pair by s(u, v) = <u, v> (cosine: <u / |u|, v / |v|>). With in-batch
or sampled negatives, row i's loss is the softmax cross entropy

    -s(u_i, v_i) + log sum_{j valid} exp(s(u_i, v_j))

over its candidates, where copies of row i's own item among the negatives are not valid.

EasyRec's scale_simi maps a similarity s to s * |w| + b with learned scalars w (initially 1)
and b (initially 0), which lets pointwise losses calibrate bounded cosine scores.

Shapes: user embeddings are [batch, dim], or [batch, interests, dim] for multi-interest models
(an item then scores its best interest, max_k <u_k, v>); item embeddings are [batch, dim];
EmbeddingTower maps [batch, input_dim] -> [batch, hidden_units[-1]].
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.registry import register_layer

# logit of masked candidates: exp(it - max) is 0 in float32, and it stays finite
MASKED_LOGIT = -1e9


@register_layer("EmbeddingTower")
class EmbeddingTower(Layer):
    """An MLP whose last layer is linear (no batch norm, no activation): the embedding.

    `hidden_units` [h1, ..., hn] gives MLP(h1..h(n-1)) followed by Dense(hn), so the
    embedding can take any sign, as similarity scores need.
    """

    def __init__(self, input_dim: int, hidden_units: Sequence[int], activation: str = "relu",
                 use_bn: bool = True, dropout_ratio: Sequence[float] = (),
                 name: str | None = None):
        super().__init__(name=name)
        units = list(hidden_units)
        if not units:
            raise ValueError(f"tower {name}: dnn.hidden_units must not be empty")
        with self.name_scope:
            self.mlp = MLP(input_dim, units[:-1], activation, use_bn,
                           list(dropout_ratio)[:max(len(units) - 1, 1)], name="mlp")
            self.output_layer = Dense(self.mlp.output_dim, units[-1], name="output")
        self.output_dim = units[-1]

    def __call__(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        return self.output_layer(self.mlp(x, training))


@register_layer("SimilarityScale")
class SimilarityScale(Layer):
    """s -> s * |w| + b with scalar w (initially 1) and b (initially 0): EasyRec's scale_simi.
    Any shape -> the same shape. The scalars are no kernel (no L2)."""

    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.weight = tf.Variable(1.0, name="sim_w")
            self.bias = tf.Variable(0.0, name="sim_b")

    def __call__(self, scores: tf.Tensor) -> tf.Tensor:
        return scores * tf.abs(self.weight) + self.bias


def normalize(embedding: tf.Tensor, cosine: bool) -> tf.Tensor:
    """Embedding as compared: L2-normalised over its last axis for cosine similarity, as is
    for the inner product."""
    return tf.math.l2_normalize(embedding, axis=-1) if cosine else embedding


def pair_scores(user: tf.Tensor, item: tf.Tensor) -> tf.Tensor:
    """[batch] inner products of row i's user with row i's item (best interest for
    [batch, interests, dim] users)."""
    if user.shape.rank == 3:
        return tf.reduce_max(tf.einsum("bkd,bd->bk", user, item), axis=1)
    return tf.reduce_sum(user * item, axis=1)


def all_pair_scores(user: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
    """[batch, num_items] inner products of every user with every item (best interest)."""
    if user.shape.rank == 3:
        return tf.reduce_max(tf.einsum("bkd,nd->bkn", user, items), axis=1)
    return tf.matmul(user, items, transpose_b=True)


def masked_softmax_cross_entropy(logits: tf.Tensor, valid: tf.Tensor,
                                 target: tf.Tensor) -> tf.Tensor:
    """[batch] softmax cross entropy of logits [batch, candidates] towards column `target`
    ([batch] int32), ignoring candidates where `valid` is False (the target must be valid)."""
    masked = tf.where(valid, logits, tf.constant(MASKED_LOGIT, logits.dtype))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=masked)


def in_batch_candidates(user: tf.Tensor, item: tf.Tensor, item_ids: tf.Tensor | None
                        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(scores [batch, batch] of every user against every item of the batch, valid mask, target
    = the diagonal). Another row's copy of a row's own item is masked (an accidental hit)."""
    scores = all_pair_scores(user, item)
    size = tf.shape(scores)[0]
    diagonal = tf.eye(size, dtype=tf.bool)
    if item_ids is None:
        valid = tf.ones_like(diagonal)
    else:
        same = tf.equal(item_ids[:, None], item_ids[None, :])
        valid = tf.logical_or(diagonal, tf.logical_not(same))
    return scores, valid, tf.range(size)


def sampled_candidates(user: tf.Tensor, item: tf.Tensor, negatives: tf.Tensor,
                       item_ids: tf.Tensor | None, negative_ids: tf.Tensor | None
                       ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(scores [batch, 1 + num_negatives]: each row's own item first, then the shared sampled
    negatives; valid mask; target = column 0). Negatives equal to a row's item are masked."""
    scores = tf.concat([pair_scores(user, item)[:, None], all_pair_scores(user, negatives)],
                       axis=1)
    size = tf.shape(scores)[0]
    if item_ids is None or negative_ids is None:
        valid = tf.ones_like(scores, dtype=tf.bool)
    else:
        hits = tf.equal(item_ids[:, None], negative_ids[None, :])
        valid = tf.concat([tf.ones([size, 1], tf.bool), tf.logical_not(hits)], axis=1)
    return scores, valid, tf.zeros([size], tf.int32)


def batch_and_sampled_candidates(user: tf.Tensor, item: tf.Tensor, negatives: tf.Tensor,
                                 item_ids: tf.Tensor | None, negative_ids: tf.Tensor | None
                                 ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """EasyRec's sampled softmax with in-batch negatives: (scores [batch, batch +
    num_negatives] of every user against every item of the batch, then the sampled negatives;
    valid mask; target = the diagonal). Accidental hits are masked in both parts."""
    batch_scores, batch_valid, target = in_batch_candidates(user, item, item_ids)
    sampled_scores, sampled_valid, _ = sampled_candidates(user, item, negatives, item_ids,
                                                          negative_ids)
    return (tf.concat([batch_scores, sampled_scores[:, 1:]], axis=1),
            tf.concat([batch_valid, sampled_valid[:, 1:]], axis=1), target)


def mask_history_hits(valid: tf.Tensor, target: tf.Tensor, history: tf.RaggedTensor,
                      columns: tf.Tensor) -> tf.Tensor:
    """`valid` [batch, candidates] with every candidate j < len(columns) whose id columns[j]
    is among row b's history ids (ragged [batch, None] strings) masked, except the row's
    target column: items the user already interacted with are no negatives (EasyRec's DSSM
    hist_seq_masks). Columns past len(columns) (hard negatives) are left as they are."""
    padded = history.to_tensor(default_value="")
    hits = tf.reduce_any(tf.logical_and(
        tf.equal(padded[:, :, None], columns[None, None, :]), padded[:, :, None] != ""), axis=1)
    extra = tf.shape(valid)[1] - tf.shape(hits)[1]
    hits = tf.pad(hits, [[0, 0], [0, extra]])
    keep = tf.logical_or(tf.logical_not(hits), tf.one_hot(target, tf.shape(valid)[1]) > 0)
    return tf.logical_and(valid, keep)


def append_hard_negatives(scores: tf.Tensor, valid: tf.Tensor, user: tf.Tensor,
                          hard_items: tf.Tensor, hard_indices: tf.Tensor, width: int,
                          item_ids: tf.Tensor | None = None, hard_ids: tf.Tensor | None = None
                          ) -> tuple[tf.Tensor, tf.Tensor]:
    """`width` more candidate columns per row: the row's own hard negatives, given as item
    embeddings [h, dim] with their (row, position) [h, 2]; a row's unused positions, and a
    hard negative equal to the row's own item, are masked (EasyRec's hard_neg_indices)."""
    rows = hard_indices[:, 0]
    hard_scores = pair_scores(tf.gather(user, rows), hard_items)
    shape = tf.stack([tf.shape(scores, out_type=tf.int64)[0], tf.constant(width, tf.int64)])
    present = tf.ones_like(hard_scores)
    if item_ids is not None and hard_ids is not None:
        present = tf.cast(tf.not_equal(tf.gather(item_ids, rows), hard_ids), hard_scores.dtype)
    placed = tf.scatter_nd(hard_indices, hard_scores, shape)
    mask = tf.scatter_nd(hard_indices, present, shape) > 0
    return tf.concat([scores, placed], axis=1), tf.concat([valid, mask], axis=1)

"""Metric-learning losses: they compare embeddings, not a task's logits, so models that learn
embeddings call them directly (CoMetricLearningI2I with CIRCLE_LOSS / MULTI_SIMILARITY_LOSS,
DropoutNet with SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING); they are not task losses.

Positive pairs (a, p): distinct rows with the same label (and the same session when sessions
are given); negative pairs: all other distinct rows. s = cosine similarity of the
L2-normalised embeddings.

circle_loss (Sun et al., "Circle Loss", CVPR 2020, https://arxiv.org/abs/2002.10857), per
anchor, with a_p = relu(1 + m - s_p), a_n = relu(s_n + m) (not differentiated):

    softplus( logsumexp_n(gamma a_n (s_n - m)) + logsumexp_p(-gamma a_p (s_p - (1 - m))) )

multi_similarity_loss (Wang et al., "Multi-Similarity Loss with General Pair Weighting",
CVPR 2019), with s clipped at 0, per anchor:

    log(1 + sum_p exp(-alpha (s_p - lamb))) / alpha + log(1 + sum_n exp(beta (s_n - lamb))) / beta

softmax_loss_with_negative_mining (support vector guided softmax, Wang et al., 2018,
https://arxiv.org/abs/1812.11317): for each positive row, its user-item cosine against
num_negative_samples items of the batch drawn by random shifts; a negative scoring above the
positive minus the margin is a support vector and gets t s + t - 1; the softmax (scaled by
gamma) should pick the positive.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.models.losses.registry import weighted_mean

_MASKED = 1e12


def positive_pair_mask(labels: tf.Tensor, sessions: tf.Tensor | None = None) -> tf.Tensor:
    """[B, B] float: 1 where rows a != p have the same label (and session)."""
    labels = tf.reshape(labels, [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    if sessions is not None:
        sessions = tf.reshape(sessions, [-1])
        same = tf.logical_and(same, tf.equal(sessions[:, None], sessions[None, :]))
    distinct = tf.logical_not(tf.cast(tf.eye(tf.size(labels)), tf.bool))
    return tf.cast(tf.logical_and(same, distinct), tf.float32)


def _cosine_matrix(embeddings: tf.Tensor, normalized: bool) -> tf.Tensor:
    if not normalized:
        embeddings = tf.math.l2_normalize(embeddings, axis=-1)
    return tf.matmul(embeddings, embeddings, transpose_b=True)


def circle_loss(embeddings: tf.Tensor, labels: tf.Tensor, sessions: tf.Tensor | None = None,
                margin: float = 0.25, gamma: float = 32.0, normalized: bool = False
                ) -> tf.Tensor:
    """Mean circle loss over the anchors of a batch of [B, D] embeddings."""
    sim = _cosine_matrix(embeddings, normalized)
    positive = positive_pair_mask(labels, sessions)
    negative = 1.0 - positive - tf.eye(tf.shape(sim)[0])
    a_p = tf.nn.relu(1.0 + margin - tf.stop_gradient(sim * positive))
    a_n = tf.nn.relu(tf.stop_gradient(sim * negative) + margin)
    logit_p = -a_p * (sim - (1.0 - margin)) * gamma * positive - (1.0 - positive) * _MASKED
    logit_n = a_n * (sim - margin) * gamma * negative - (1.0 - negative) * _MASKED
    return tf.reduce_mean(tf.nn.softplus(tf.reduce_logsumexp(logit_n, axis=-1)
                                         + tf.reduce_logsumexp(logit_p, axis=-1)))


def multi_similarity_loss(embeddings: tf.Tensor, labels: tf.Tensor,
                          sessions: tf.Tensor | None = None, alpha: float = 2.0,
                          beta: float = 50.0, lamb: float = 1.0, normalized: bool = False
                          ) -> tf.Tensor:
    """Mean multi-similarity loss over the anchors of [B, D] embeddings."""
    sim = tf.maximum(_cosine_matrix(embeddings, normalized), 0.0)
    positive = positive_pair_mask(labels, sessions)
    negative = 1.0 - positive - tf.eye(tf.shape(sim)[0])
    pos_terms = tf.where(positive > 0, tf.exp(-alpha * (sim * positive - lamb)), 0.0)
    neg_terms = tf.where(negative > 0, tf.exp(beta * (sim * negative - lamb)), 0.0)
    return tf.reduce_mean(tf.math.log1p(tf.reduce_sum(pos_terms, axis=1)) / alpha
                          + tf.math.log1p(tf.reduce_sum(neg_terms, axis=1)) / beta)


def support_vector_softmax_loss(positive_score: tf.Tensor, negative_scores: tf.Tensor,
                                margin: float = 0.0, t: float = 1.0, gamma: float = 1.0,
                                weights: tf.Tensor | None = None) -> tf.Tensor:
    """Support vector guided softmax of [N, 1] positive and [N, K] negative scores."""
    shifted = positive_score - margin
    support = tf.cast(shifted - negative_scores < 0.0, tf.float32)
    negatives = support * (negative_scores * t + t - 1.0) + (1.0 - support) * negative_scores
    logits = gamma * tf.concat([shifted, negatives], axis=1)
    per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.zeros([tf.shape(logits)[0]], tf.int32), logits)
    return weighted_mean(per_row, weights)


def softmax_loss_with_negative_mining(user_emb: tf.Tensor, item_emb: tf.Tensor,
                                      labels: tf.Tensor, num_negative_samples: int = 4,
                                      margin: float = 0.0, gamma: float = 1.0, t: float = 1.0,
                                      weights: tf.Tensor | None = None, normalized: bool = False
                                      ) -> tf.Tensor:
    """Support vector guided softmax of each positive row's user against its item and
    num_negative_samples items of the batch (each a random non-zero shift of the items)."""
    if not normalized:
        user_emb = tf.math.l2_normalize(user_emb, axis=-1)
        item_emb = tf.math.l2_normalize(item_emb, axis=-1)
    size = tf.shape(item_emb)[0]
    items = [item_emb] + [
        tf.roll(item_emb, tf.random.uniform([], 1, size, dtype=tf.int32), axis=0)
        for _ in range(num_negative_samples)]
    candidates = tf.stack(items, axis=1)  # [B, 1 + K, D]
    keep = tf.reshape(labels, [-1]) > 0
    scores = tf.einsum("bd,bkd->bk", tf.boolean_mask(user_emb, keep),
                       tf.boolean_mask(candidates, keep))
    kept_weights = None if weights is None else tf.boolean_mask(weights, keep)
    return support_vector_softmax_loss(scores[:, :1], scores[:, 1:], margin, t, gamma,
                                       kept_weights)

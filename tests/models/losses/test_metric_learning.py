"""Metric-learning losses against values computed anchor by anchor."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.metric_learning import (
    circle_loss,
    multi_similarity_loss,
    positive_pair_mask,
    softmax_loss_with_negative_mining,
    support_vector_softmax_loss,
)

EMBEDDINGS = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
LABELS = np.array([1, 1, 2, 2])


def cosines():
    unit = EMBEDDINGS / np.linalg.norm(EMBEDDINGS, axis=1, keepdims=True)
    return unit @ unit.T


def logsumexp(x):
    return np.log(np.exp(x - x.max()).sum()) + x.max()


def test_positive_pair_mask_with_sessions():
    mask = positive_pair_mask(tf.constant(LABELS), tf.constant([1, 2, 1, 1])).numpy()
    np.testing.assert_array_equal(mask, [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])


def test_circle_loss():
    sim, m, gamma = cosines(), 0.25, 8.0
    losses = []
    for a in range(4):
        pos = [p for p in range(4) if p != a and LABELS[p] == LABELS[a]]
        neg = [n for n in range(4) if LABELS[n] != LABELS[a]]
        lp = [-max(0, 1 + m - sim[a, p]) * (sim[a, p] - (1 - m)) * gamma for p in pos]
        ln = [max(0, sim[a, n] + m) * (sim[a, n] - m) * gamma for n in neg]
        losses.append(np.log1p(np.exp(logsumexp(np.array(ln)) + logsumexp(np.array(lp)))))
    got = circle_loss(tf.constant(EMBEDDINGS, tf.float32), tf.constant(LABELS), margin=m,
                      gamma=gamma)
    assert float(got) == pytest.approx(np.mean(losses), rel=1e-5)


def test_multi_similarity_loss():
    sim = np.maximum(cosines(), 0.0)
    alpha, beta, lamb = 2.0, 10.0, 0.5
    losses = []
    for a in range(4):
        pos = [sim[a, p] for p in range(4) if p != a and LABELS[p] == LABELS[a]]
        neg = [sim[a, n] for n in range(4) if LABELS[n] != LABELS[a]]
        losses.append(np.log1p(np.sum(np.exp(-alpha * (np.array(pos) - lamb)))) / alpha
                      + np.log1p(np.sum(np.exp(beta * (np.array(neg) - lamb)))) / beta)
    got = multi_similarity_loss(tf.constant(EMBEDDINGS, tf.float32), tf.constant(LABELS),
                                alpha=alpha, beta=beta, lamb=lamb)
    assert float(got) == pytest.approx(np.mean(losses), rel=1e-5)


def test_support_vector_softmax_loss():
    positive = np.array([[0.9], [0.2]])
    negatives = np.array([[0.5, 0.95], [0.1, 0.3]])
    t, margin = 1.5, 0.1
    rows = []
    for pos, negs in zip(positive[:, 0], negatives):
        shifted = pos - margin
        negs = [n * t + t - 1 if shifted - n < 0 else n for n in negs]
        logits = np.array([shifted] + negs)
        rows.append(logsumexp(logits) - shifted)
    got = support_vector_softmax_loss(tf.constant(positive, tf.float32),
                                      tf.constant(negatives, tf.float32), margin, t)
    assert float(got) == pytest.approx(np.mean(rows), rel=1e-5)


def test_negative_mining_uses_positive_rows_only():
    user = tf.constant(EMBEDDINGS, tf.float32)
    labels = tf.constant([1, 0, 0, 0])
    # one positive row, two shifted negatives: loss >= 0 and finite
    value = float(softmax_loss_with_negative_mining(user, user, labels, 2))
    assert np.isfinite(value) and value >= 0

"""Pointwise losses, focal loss and F1 reweighting against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.pointwise import cross_entropy, squared_error
from easy_rec.models.losses.registry import LossInputs, build_term, hard_example_mean, weighted_mean
from easy_rec.models.losses.reweighted import f1_reweighted_loss, sigmoid_focal_loss
from easy_rec.protos import loss_pb2

LABELS = np.array([1.0, 0.0, 1.0, 0.0])
LOGITS = np.array([2.0, 1.0, -1.0, -0.5])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bce(y, s):
    return np.log1p(np.exp(-s)) + (1.0 - y) * s


def test_weighted_mean_counts_non_zero_weights_and_empty_is_zero():
    values = tf.constant([1.0, 2.0, 3.0, 4.0])
    assert float(weighted_mean(values, None)) == pytest.approx(2.5)
    # (2 * 1 + 0 * 2 + 1 * 3 + 1 * 4) / 3 non-zero weights
    assert float(weighted_mean(values, tf.constant([2.0, 0.0, 1.0, 1.0]))) == pytest.approx(3.0)
    assert float(weighted_mean(tf.zeros([0]), None)) == 0.0


def test_hard_example_mean_keeps_the_largest_positive_share():
    losses = tf.constant([0.5, 3.0, 0.0, 1.0])
    assert float(hard_example_mean(losses, 0.5)) == pytest.approx(2.0)  # top 2: 3, 1
    assert float(hard_example_mean(losses, 0.9)) == pytest.approx(1.5)  # top 4 minus the 0


def test_cross_entropy_and_squared_error():
    expected = bce(LABELS, LOGITS).mean()
    assert float(cross_entropy(tf.constant(LABELS), tf.constant(LOGITS, tf.float32))) == \
        pytest.approx(expected)
    logits = tf.constant([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = tf.constant([0, 2])
    rows = [np.log(np.exp([2.0, 0.0, -1.0]).sum()) - 2.0, np.log(np.exp([0.0, 1.0, 0.0]).sum())]
    assert float(cross_entropy(labels, logits)) == pytest.approx(np.mean(rows), rel=1e-6)
    weights = tf.constant([1.0, 3.0, 0.0, 1.0])
    diff = np.array([0.5, 1.0, 2.0, -1.0])
    got = squared_error(tf.constant(LABELS), tf.constant(LABELS + diff, tf.float32), weights)
    assert float(got) == pytest.approx((0.25 + 3.0 + 1.0) / 3)


def test_terms_read_their_outputs():
    inputs = LossInputs(tf.constant(LABELS), {"logits": tf.constant(LOGITS, tf.float32),
                                              "y": tf.constant(LOGITS, tf.float32)})
    for loss_type in (loss_pb2.CLASSIFICATION, loss_pb2.BINARY_CROSS_ENTROPY_LOSS):
        assert float(build_term(loss_type)(inputs)) == pytest.approx(bce(LABELS, LOGITS).mean())
    assert float(build_term(loss_pb2.L2_LOSS)(inputs)) == pytest.approx(
        np.mean((LOGITS - LABELS) ** 2))
    with pytest.raises(ValueError, match="CROSS_ENTROPY_LOSS is not a loss of a task's output"):
        build_term(loss_pb2.CROSS_ENTROPY_LOSS)


def test_focal_loss():
    p = np.clip(sigmoid(LOGITS), 1e-7, 1 - 1e-7)
    p_t = LABELS * p + (1 - LABELS) * (1 - p)
    factor = (1 - p_t) ** 2 * (LABELS * 0.25 + (1 - LABELS) * 0.75)
    expected = np.sum(factor * bce(LABELS, LOGITS)) / 4
    got = sigmoid_focal_loss(tf.constant(LABELS), tf.constant(LOGITS, tf.float32), 2.0, 0.25)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # gamma 0 and no alpha: plain cross entropy
    got = sigmoid_focal_loss(tf.constant(LABELS), tf.constant(LOGITS, tf.float32), gamma=0.0)
    assert float(got) == pytest.approx(bce(LABELS, LOGITS).mean(), rel=1e-5)
    # label smoothing 0.2 moves the targets to 0.9 / 0.1; ohem 0.5 keeps the 2 hardest rows
    targets = LABELS * 0.8 + 0.1
    rows = (1 - p_t) ** 2 * bce(targets, LOGITS)
    got = sigmoid_focal_loss(tf.constant(LABELS), tf.constant(LOGITS, tf.float32), 2.0, None,
                             ohem_ratio=0.5, label_smoothing=0.2)
    assert float(got) == pytest.approx(np.sort(rows)[-2:].mean(), rel=1e-5)


def test_f1_reweighted_loss():
    probs = sigmoid(LOGITS)
    size, positives, tp = 4.0, 2.0, probs.sum()
    negative_weight = tp / (2.25 * positives + (size - positives) - (size - tp) + 1e-8)
    weights = np.where(LABELS == 1, 1.0, negative_weight)
    expected = np.sum(weights * bce(LABELS, LOGITS)) / 4
    got = f1_reweighted_loss(tf.constant(LABELS), tf.constant(LOGITS, tf.float32), 2.25)
    assert float(got) == pytest.approx(expected, rel=1e-5)

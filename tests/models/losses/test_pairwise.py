"""Pairwise losses against values computed by hand on a batch of four rows."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.pairwise import (
    ordered_pairs,
    pairwise_focal_loss,
    pairwise_hinge_loss,
    pairwise_logistic_loss,
    pairwise_loss,
)
from easy_rec.models.losses.registry import LossInputs, build_term
from easy_rec.protos import loss_pb2

LABELS = tf.constant([1, 0, 1, 0])
LOGITS = tf.constant([2.0, 1.0, 0.0, 0.5])
SESSIONS = tf.constant(["a", "a", "b", "b"])
# pairs with label_i > label_j: (0, 1), (0, 3), (2, 1), (2, 3); score differences:
DIFF = np.array([1.0, 1.5, -1.0, -0.5])
# within a session: (0, 1) and (2, 3)
SESSION_DIFF = np.array([1.0, -0.5])


def softplus(x):
    return np.log1p(np.exp(x))


def test_ordered_pairs_and_their_weights():
    pairs = ordered_pairs(LABELS, LOGITS, weights=tf.constant([2.0, 1.0, 3.0, 1.0]))
    np.testing.assert_allclose(pairs.score_diff.numpy(), DIFF)
    np.testing.assert_allclose(pairs.label_diff.numpy(), [1, 1, 1, 1])
    np.testing.assert_allclose(pairs.weights.numpy(), [2, 2, 3, 3])
    np.testing.assert_allclose(ordered_pairs(LABELS, LOGITS, SESSIONS).score_diff.numpy(),
                               SESSION_DIFF)


def test_pair_wise_loss():
    assert float(pairwise_loss(LABELS, LOGITS)) == pytest.approx(softplus(-DIFF).mean())
    assert float(pairwise_loss(LABELS, LOGITS, SESSIONS)) == pytest.approx(
        softplus(-SESSION_DIFF).mean())
    got = pairwise_loss(LABELS, LOGITS, margin=0.5, temperature=2.0)
    assert float(got) == pytest.approx(softplus(-(DIFF / 2 - 0.5)).mean())
    # a batch without a pair costs nothing
    assert float(pairwise_loss(tf.constant([1, 1]), tf.constant([0.0, 1.0]))) == 0.0


def test_pairwise_logistic_loss():
    weights = tf.constant([2.0, 1.0, 1.0, 1.0])
    expected = np.sum(softplus(-DIFF) * [2, 2, 1, 1]) / 4
    assert float(pairwise_logistic_loss(LABELS, LOGITS, weights=weights)) == pytest.approx(
        expected, rel=1e-6)
    # use_label_margin: the label difference (1) is the margin
    assert float(pairwise_logistic_loss(LABELS, LOGITS, use_label_margin=True)) == pytest.approx(
        softplus(-(DIFF - 1.0)).mean(), rel=1e-6)
    got = pairwise_logistic_loss(LABELS, LOGITS, hinge_margin=0.5, ohem_ratio=0.5)
    assert float(got) == pytest.approx(np.sort(softplus(-(DIFF - 0.5)))[-2:].mean(), rel=1e-6)


def test_pairwise_hinge_loss():
    # default: margin = label difference 1
    assert float(pairwise_hinge_loss(LABELS, LOGITS)) == pytest.approx(
        np.maximum(0, 1 - DIFF).mean())
    got = pairwise_hinge_loss(LABELS, LOGITS, margin=0.5, use_label_margin=False)
    assert float(got) == pytest.approx(np.maximum(0, 0.5 - DIFF).mean())  # (1.5 + 1) / 4
    got = pairwise_hinge_loss(LABELS, LOGITS, margin=0.5, use_label_margin=False, ohem_ratio=0.5)
    assert float(got) == pytest.approx(1.25)
    got = pairwise_hinge_loss(LABELS, LOGITS, use_exponent=True)
    sig = 1.0 / (1.0 + np.exp(-LOGITS.numpy()))
    sig_diff = np.array([sig[0] - sig[1], sig[0] - sig[3], sig[2] - sig[1], sig[2] - sig[3]])
    margin = 1.0 / (1.0 + np.exp(-1.0)) - 0.5
    assert float(got) == pytest.approx(np.maximum(0, np.exp(margin - sig_diff) - 1).mean(),
                                       rel=1e-5)


def test_pairwise_focal_loss():
    p = 1.0 / (1.0 + np.exp(-DIFF))
    expected = np.mean((1 - p) ** 2 * softplus(-DIFF))
    assert float(pairwise_focal_loss(LABELS, LOGITS)) == pytest.approx(expected, rel=1e-5)
    # hinge_margin 1.2 drops the pair with difference 1.5
    kept = DIFF[DIFF < 1.2]
    p = 1.0 / (1.0 + np.exp(-kept))
    got = pairwise_focal_loss(LABELS, LOGITS, hinge_margin=1.2)
    assert float(got) == pytest.approx(np.mean((1 - p) ** 2 * softplus(-kept)), rel=1e-5)


def test_terms_read_session_name_column():
    loss = loss_pb2.Loss(loss_type=loss_pb2.PAIRWISE_LOGISTIC_LOSS)
    loss.pairwise_logistic_loss.session_name = "user"
    term = build_term(loss.loss_type, loss.pairwise_logistic_loss)
    inputs = LossInputs(LABELS, {"logits": LOGITS}, None, {"user": SESSIONS})
    assert float(term(inputs)) == pytest.approx(softplus(-SESSION_DIFF).mean())
    # the default hinge_margin (1.0) only applies when it is set, as in EasyRec
    default = build_term(loss_pb2.PAIRWISE_FOCAL_LOSS)
    assert float(default(inputs)) == pytest.approx(float(pairwise_focal_loss(LABELS, LOGITS)))

"""JRC and zero-inflated lognormal losses against values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.heads import head_outputs
from easy_rec.models.losses.jrc import JRCWeighting, generative_loss
from easy_rec.models.losses.registry import LossInputs, build_term
from easy_rec.models.losses.ziln import ziln_loss, ziln_prediction
from easy_rec.protos import loss_pb2

LABELS = np.array([1, 0, 0, 1, 0])
LOGITS = np.array([[0.1, 1.0], [0.5, -0.2], [0.0, 0.3], [-0.4, 0.8], [0.2, 0.1]])
SESSIONS = np.array([1, 1, 1, 2, 2])


def log_softmax(x):
    return x - np.log(np.exp(x).sum())


def ge_by_hand(weights=None, same_label_loss=True):
    weights = np.ones(5) if weights is None else weights
    total = 0.0
    for j in range(5):
        members = np.flatnonzero(SESSIONS == SESSIONS[j])
        row = 0.0
        for label, column in ((1, 1), (0, 0)):
            if same_label_loss:
                logp = log_softmax(LOGITS[members, column])
                row += -sum(lp for i, lp in zip(members, logp) if LABELS[i] == label) \
                    / len(members)
            elif LABELS[j] == label:
                candidates = [i for i in members if i == j or LABELS[i] != label]
                logp = log_softmax(LOGITS[candidates, column])
                row += -logp[candidates.index(j)]
        total += weights[j] * row
    return total / 5


@pytest.mark.parametrize("same_label_loss", [True, False])
def test_generative_loss(same_label_loss):
    weights = np.array([1.0, 2.0, 1.0, 0.5, 1.0])
    got = generative_loss(tf.constant(LABELS), tf.constant(LOGITS, tf.float32),
                          tf.constant(SESSIONS), tf.constant(weights, tf.float32),
                          same_label_loss)
    assert float(got) == pytest.approx(ge_by_hand(weights, same_label_loss), rel=1e-5)


def test_jrc_term_mixes_calibration_and_ranking():
    loss = loss_pb2.Loss(loss_type=loss_pb2.JRC_LOSS)
    loss.jrc_loss.session_name = "uid"
    loss.jrc_loss.alpha = 0.3
    term = build_term(loss.loss_type, loss.jrc_loss)
    inputs = LossInputs(tf.constant(LABELS), {"logits": tf.constant(LOGITS, tf.float32)}, None,
                        {"uid": tf.constant(SESSIONS)})
    ce = np.mean([-log_softmax(row)[y] for row, y in zip(LOGITS, LABELS)])
    assert float(term(inputs)) == pytest.approx(0.3 * ce + 0.7 * ge_by_hand(), rel=1e-5)


def test_jrc_weighting_strategies():
    ce, ge = tf.constant(2.0), tf.constant(4.0)
    uncertainty = JRCWeighting("uncertainty")
    assert float(uncertainty(ce, ge)) == pytest.approx(6.0)
    uncertainty.ranking_uncertainty.assign(1.0)
    assert float(uncertainty(ce, ge)) == pytest.approx(2 * math.exp(-1) + 0.5 + 4.0)
    for strategy in ("random_uniform", "random_normal", "random_bernoulli"):
        assert 2.0 <= float(JRCWeighting(strategy)(ce, ge)) <= 4.0
    with pytest.raises(ValueError, match="'sometimes' is not one of fixed"):
        JRCWeighting("sometimes")


def test_jrc_head_predicts_the_positive_class():
    out = head_outputs("jrc", tf.constant(LOGITS, tf.float32))
    probs = np.exp(LOGITS[:, 1]) / np.exp(LOGITS).sum(axis=1)
    np.testing.assert_allclose(out["probs"].numpy(), probs, rtol=1e-6)
    np.testing.assert_allclose(out["pos_logits"].numpy(), LOGITS[:, 1], rtol=1e-6)


def test_ziln_loss_and_prediction():
    labels = np.array([0.0, 2.0, 10.0])
    logits = np.array([[-1.0, 0.0, 0.0], [0.5, 0.8, 0.3], [1.0, 2.0, -0.5]])
    positive = (labels > 0).astype(float)
    sigma = np.clip(np.log1p(np.exp(logits[:, 2])), math.sqrt(1e-7), 5.0)
    mu = logits[:, 1]
    classification = np.mean(np.log1p(np.exp(-logits[:, 0])) + (1 - positive) * logits[:, 0])
    log_y = np.log(np.where(labels > 0, labels, 1.0))
    log_prob = (-log_y - np.log(sigma) - 0.5 * math.log(2 * math.pi)
                - (log_y - mu) ** 2 / (2 * sigma ** 2))
    regression = -np.sum(positive * log_prob) / positive.sum()
    penalty = 0.01 * np.mean(mu ** 2) + 0.01 * np.mean(logits[:, 2] ** 2)
    got = ziln_loss(tf.constant(labels), tf.constant(logits, tf.float32))
    assert float(got) == pytest.approx(classification + regression + penalty, rel=1e-5)
    probs, value = ziln_prediction(tf.constant(logits, tf.float32))
    p = 1 / (1 + np.exp(-logits[:, 0]))
    np.testing.assert_allclose(probs.numpy(), p, rtol=1e-6)
    np.testing.assert_allclose(value.numpy(), p * np.exp(mu + sigma ** 2 / 2), rtol=1e-5)

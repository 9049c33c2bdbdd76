"""Listwise losses against values computed by hand on two lists."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.listwise import (
    label_transform,
    listwise_distill_loss,
    listwise_rank_loss,
)
from easy_rec.models.losses.registry import LossInputs, build_term
from easy_rec.protos import loss_pb2

SESSIONS = tf.constant([7, 7, 7, 9, 9])
LOGITS = np.array([1.0, 2.0, 0.0, 0.5, -1.0])
LISTS = [slice(0, 3), slice(3, 5)]


def log_softmax(x):
    return x - np.log(np.exp(x).sum())


def list_loss(targets, logits):
    return np.mean([-(targets[g] * log_softmax(logits[g])).sum() for g in LISTS])


def test_listwise_rank_loss_with_label_probabilities():
    labels = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    got = listwise_rank_loss(tf.constant(labels), tf.constant(LOGITS, tf.float32), SESSIONS)
    assert float(got) == pytest.approx(list_loss(labels, LOGITS), rel=1e-6)
    # lists: -(1 - log(e + e^2 + 1)) and -(0.5 - log(e^0.5 + e^-1))
    by_hand = ((np.log(np.e + np.e ** 2 + 1) - 1) + (np.log(np.e ** 0.5 + np.e ** -1) - 0.5)) / 2
    assert float(got) == pytest.approx(by_hand, rel=1e-6)


def test_listwise_rank_loss_with_label_logits_and_temperature():
    labels = np.array([2.0, 0.0, 1.0, 0.0, 3.0])
    targets = np.concatenate([np.exp(log_softmax(labels[g] / 2.0)) for g in LISTS])
    got = listwise_rank_loss(tf.constant(labels), tf.constant(LOGITS, tf.float32), SESSIONS,
                             temperature=2.0, label_is_logits=True)
    assert float(got) == pytest.approx(list_loss(targets, LOGITS / 2.0), rel=1e-5)


def test_listwise_distill_loss_from_rank_positions():
    positions = np.array([1.0, 3.0, 600.0, 2.0, 1.0])
    relevance = np.log1p(512.0) - np.log(np.clip(positions, 1, 512))
    targets = np.concatenate([relevance[g] / relevance[g].sum() for g in LISTS])
    got = listwise_distill_loss(tf.constant(positions), tf.constant(LOGITS, tf.float32), SESSIONS)
    assert float(got) == pytest.approx(list_loss(targets, LOGITS), rel=1e-5)


def test_transform_fn_names_tf_math_or_nn_functions_only():
    assert label_transform("tf.math.log1p") is tf.math.log1p
    assert label_transform("tf.exp") is tf.math.exp
    assert label_transform("tf.nn.relu") is tf.nn.relu
    for name in ("os.system", "tf.io.write_file", "tf.math._private", "log1p", "tf.math.nope"):
        with pytest.raises(ValueError, match="must name a function of tf.math or tf.nn"):
            label_transform(name)


def test_scale_logits_are_learned_variables():
    loss = loss_pb2.Loss(loss_type=loss_pb2.LISTWISE_RANK_LOSS)
    loss.listwise_rank_loss.session_name = "s"
    loss.listwise_rank_loss.scale_logits = True
    loss.listwise_rank_loss.transform_fn = "tf.math.log1p"
    term = build_term(loss.loss_type, loss.listwise_rank_loss)
    assert {v.name.split("/")[-1] for v in term.trainable_variables} == {"scale_w:0", "scale_b:0"}
    labels = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    inputs = LossInputs(tf.constant(labels), {"logits": tf.constant(LOGITS, tf.float32)}, None,
                        {"s": SESSIONS})
    term.scale_w.assign([-2.0])  # |w| scales
    term.scale_b.assign([0.5])
    expected = list_loss(np.log1p(labels), 2.0 * LOGITS + 0.5)
    assert float(term(inputs)) == pytest.approx(expected, rel=1e-5)

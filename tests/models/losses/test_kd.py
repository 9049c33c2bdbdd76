"""Knowledge distillation losses against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.kd import (
    Distillation,
    binary_cross_entropy_distillation,
    cross_entropy_distillation,
    kl_divergence_distillation,
)
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

SOFT = np.array([1.0, -1.0, 0.0])
PRED = np.array([0.5, 0.0, -2.0])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_cross_entropy_distillation_with_temperature():
    t, p = sigmoid(SOFT / 2), sigmoid(PRED / 2)
    expected = np.mean(-(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7)))
    got = cross_entropy_distillation(tf.constant(SOFT, tf.float32), tf.constant(PRED, tf.float32),
                                     temperature=2.0)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # probabilities are taken to logits with log(x + 1e-7), as in EasyRec
    probs = np.array([0.9, 0.2, 0.5])
    t = sigmoid(np.log(probs + 1e-7))
    p = sigmoid(PRED)
    expected = np.mean(-(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7)))
    got = cross_entropy_distillation(tf.constant(probs, tf.float32), tf.constant(PRED, tf.float32),
                                     label_is_logits=False)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_binary_cross_entropy_and_kl_distillation():
    t, s = sigmoid(SOFT), PRED
    expected = np.mean(np.log1p(np.exp(-s)) + (1 - t) * s)
    got = binary_cross_entropy_distillation(tf.constant(SOFT, tf.float32),
                                            tf.constant(PRED, tf.float32))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    p = sigmoid(PRED)
    kl = t * np.log(t / p) + (1 - t) * np.log((1 - t) / (1 - p))
    got = kl_divergence_distillation(tf.constant(SOFT, tf.float32), tf.constant(PRED, tf.float32))
    assert float(got) == pytest.approx(np.mean(kl), rel=1e-4)


#: EasyRec's name of a kd entry's term: kd_loss_<pred_name>_<soft_label_name>
KD_NAME = "kd_loss_logits_soft"


def kd_entry(loss_type, **fields):
    kd = easy_rec_model_pb2.KD(pred_name="logits", soft_label_name="soft", loss_type=loss_type,
                               **fields)
    return kd


def test_distillation_sums_weighted_entries_with_task_space():
    batch = {"soft": tf.constant(SOFT, tf.float32), "page": tf.constant([3, 1, 3])}
    outputs = {"logits": tf.constant(PRED, tf.float32)}
    entry = kd_entry(loss_pb2.L2_LOSS, loss_weight=0.5, task_space_indicator_name="page",
                     task_space_indicator_value="3", in_task_space_weight=1.0,
                     out_task_space_weight=0.0)
    squared = (PRED - SOFT) ** 2
    assert float(Distillation([entry])(outputs, batch)[KD_NAME]) == pytest.approx(
        0.5 * (squared[0] + squared[2]) / 2, rel=1e-6)
    # other loss types are the task loss of that type, e.g. pairwise on the soft labels
    pairwise = kd_entry(loss_pb2.PAIR_WISE_LOSS)
    expected = np.mean(np.log1p(np.exp(-np.array([0.5 - 0.0, 0.5 + 2.0, -2.0 - 0.0]))))
    assert float(Distillation([pairwise])(outputs, batch)[KD_NAME]) == pytest.approx(
        expected, rel=1e-6)


def test_distillation_names_a_missing_output():
    with pytest.raises(ValueError, match=r"kd\[0\].pred_name 'logits' is not an output of the "
                                         r"model \(outputs: probs\)"):
        Distillation([kd_entry(loss_pb2.L2_LOSS)])({"probs": tf.constant([0.5])},
                                                   {"soft": tf.constant([1.0])})

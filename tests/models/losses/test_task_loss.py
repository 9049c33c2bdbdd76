"""Weighting of a task's losses (Fixed, Uncertainty, Random), order calibration, model-level
loss parameters and heads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.losses.heads import common_head, head_outputs, logits_width
from easy_rec.models.losses.registry import LossInputs
from easy_rec.models.losses.reweighted import f1_reweighted_loss
from easy_rec.models.losses.task_loss import TaskLoss, with_model_params
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

Model = easy_rec_model_pb2.EasyRecModel
LABELS = tf.constant([1.0, 0.0, 1.0])
LOGITS = tf.constant([1.0, -2.0, 0.5])
INPUTS = LossInputs(LABELS, {"logits": LOGITS, "probs": tf.sigmoid(LOGITS), "y": LOGITS})
BCE = float(np.mean(np.log1p(np.exp(-np.array([1.0, 2.0, 0.5])))))
MSE = float(np.mean((np.array([1.0, -2.0, 0.5]) - np.array([1.0, 0.0, 1.0])) ** 2))
# the pairs (0, 1) and (2, 1): differences 3 and 2.5
PAIRWISE = float(np.mean(np.log1p(np.exp(-np.array([3.0, 2.5])))))


def total(terms: dict) -> float:
    """The sum of a dict of named loss terms."""
    return float(tf.add_n(list(terms.values())))


def losses(*entries):
    return [loss_pb2.Loss(loss_type=t, weight=w, learn_loss_weight=learn)
            for t, w, learn in entries]


def test_fixed_weights_and_task_scale():
    task = TaskLoss(losses((loss_pb2.CLASSIFICATION, 1.0, False),
                           (loss_pb2.PAIR_WISE_LOSS, 0.5, False)), Model.Fixed)
    assert list(task(INPUTS)) == ["cross_entropy_loss", "pair_wise_loss"]
    assert total(task(INPUTS)) == pytest.approx(BCE + 0.5 * PAIRWISE, rel=1e-6)
    assert total(task(INPUTS, scale=2.0)) == pytest.approx(2 * (BCE + 0.5 * PAIRWISE), rel=1e-6)


def test_uncertainty_learns_weights_of_marked_losses():
    task = TaskLoss(losses((loss_pb2.CLASSIFICATION, 3.0, True), (loss_pb2.L2_LOSS, 1.0, True),
                           (loss_pb2.PAIR_WISE_LOSS, 0.5, False)), Model.Uncertainty)
    assert len(task.trainable_variables) == 2
    # u = 0: exp(0) * bce, exp(0) * mse / 2 (L2 losses are halved), 0.5 * pairwise
    assert total(task(INPUTS)) == pytest.approx(BCE + 0.5 * MSE + 0.5 * PAIRWISE, rel=1e-6)
    task.weights[0].uncertainty.assign(1.0)
    expected = math.exp(-1) * BCE + 0.5 + 0.5 * MSE + 0.5 * PAIRWISE
    assert total(task(INPUTS)) == pytest.approx(expected, rel=1e-6)


def test_random_weights_replace_the_configured_ones():
    task = TaskLoss(losses((loss_pb2.CLASSIFICATION, 1.0, False),
                           (loss_pb2.PAIR_WISE_LOSS, 1.0, False)), Model.Random)
    assert task.num_terms == 2
    got = task(INPUTS, random_weights=tf.constant([0.25, 0.75]))
    assert total(got) == pytest.approx(0.25 * BCE + 0.75 * PAIRWISE, rel=1e-6)


def test_model_level_f1_reweight_loss_fills_entries_without_parameters():
    model = Model(f1_reweight_loss=loss_pb2.F1ReweighedLoss(f1_beta_square=0.25))
    own = loss_pb2.Loss(loss_type=loss_pb2.F1_REWEIGHTED_LOSS)
    own.f1_reweighted_loss.f1_beta_square = 4.0
    entries = [loss_pb2.Loss(loss_type=loss_pb2.F1_REWEIGHTED_LOSS), own,
               loss_pb2.Loss(loss_type=loss_pb2.CLASSIFICATION)]
    filled = with_model_params(entries, model)
    assert [e.f1_reweighted_loss.f1_beta_square for e in filled[:2]] == [0.25, 4.0]
    assert filled[2] == entries[2] and not entries[0].HasField("f1_reweighted_loss")
    assert with_model_params(entries, Model()) == entries
    # the filled entry trains with beta^2 = 0.25: TP = sum p, w_neg = TP / (0.25 P + N - TN)
    probs = 1 / (1 + np.exp(-np.array([1.0, -2.0, 0.5])))
    w_neg = probs.sum() / (0.25 * 2 + 1 - (3 - probs.sum()))
    ce = np.log1p(np.exp(-np.array([1.0, 2.0, 0.5])))
    expected = (ce[0] + w_neg * ce[1] + ce[2]) / 3
    got = total(TaskLoss(filled[:1], Model.Fixed)(INPUTS))
    assert got == pytest.approx(expected, rel=1e-5)
    assert got == pytest.approx(float(f1_reweighted_loss(LABELS, LOGITS, 0.25)), rel=1e-6)


def test_order_calibration_against_related_probabilities():
    task = TaskLoss(losses((loss_pb2.CLASSIFICATION, 1.0, False),
                           (loss_pb2.ORDER_CALIBRATE_LOSS, 2.0, False)), Model.Fixed)
    related = tf.constant([0.5, 0.5, 0.5])
    probs = 1 / (1 + np.exp(-np.array([1.0, -2.0, 0.5])))
    expected = BCE + 2.0 * np.mean(np.maximum(probs - 0.5, 0))
    terms = task(INPUTS, related_probs=[related])
    assert set(terms) == {"cross_entropy_loss", "order_calibrate_loss"}
    assert total(terms) == pytest.approx(expected, rel=1e-6)


def test_term_names_follow_easyrec():
    """Tower suffix, loss_name, repeated types made distinct."""
    named = loss_pb2.Loss(loss_type=loss_pb2.CLASSIFICATION, loss_name="ce")
    focal = loss_pb2.Loss(loss_type=loss_pb2.BINARY_FOCAL_LOSS, loss_name="focal")
    task = TaskLoss(losses((loss_pb2.CLASSIFICATION, 1.0, False), (loss_pb2.L2_LOSS, 1.0, False),
                           (loss_pb2.CLASSIFICATION, 1.0, False)) + [named, focal],
                    Model.Fixed, suffix="_ctr")
    assert task.names == ["cross_entropy_loss_ctr", "l2_loss_ctr", "cross_entropy_loss_ctr_1",
                          "ce", "focal_ctr"]


def test_heads():
    assert logits_width("jrc", 2) == 2 and logits_width("ziln", 3) == 3
    assert logits_width("multiclass", 4) == 4 and logits_width("binary", 1) == 1
    out = head_outputs("sigmoid", tf.constant([[0.0], [2.0]]))
    np.testing.assert_allclose(out["y"].numpy(), [0.5, 1 / (1 + math.exp(-2))], rtol=1e-6)
    assert common_head(["binary", "binary"]) == "binary"
    with pytest.raises(ValueError, match="need one kind of output, got binary, jrc"):
        common_head(["binary", "jrc"])

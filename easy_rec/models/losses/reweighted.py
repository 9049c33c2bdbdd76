"""Binary cross entropy with row weights derived from the predictions.

BINARY_FOCAL_LOSS (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017,
https://arxiv.org/abs/1708.02002): with p = sigmoid(s) clipped to [1e-7, 1 - 1e-7] and
p_t = y p + (1 - y)(1 - p), each row's cross entropy is weighted by

    (1 - p_t)^gamma * (alpha y + (1 - alpha)(1 - y))   (the alpha factor only when alpha is set)

so that well-classified rows count less. ohem_ratio < 1 keeps only the hardest share of rows.

F1_REWEIGHTED_LOSS (adaptive scaling, Lu et al., "Adaptive Scaling for Sparse Detection in
Information Extraction", ACL 2018, https://arxiv.org/abs/1805.00250): positives weigh 1 and
negatives weigh, per batch,

    w_neg = TP / (beta^2 * P + N - TN),  TP = sum_i p_i,  TN = B - TP,  P = sum_i y_i, N = B - P

(EasyRec's estimate of the true positives and negatives from the probabilities), which trades
precision for recall as an F_beta score does.

label_smoothing replaces the cross entropy's targets by y (1 - ls) + ls / 2. The loss is the
weighted mean: sum(w * ce) / number of non-zero w, as tf.losses reduces.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.models.losses.registry import (
    LossInputs,
    LossTerm,
    hard_example_mean,
    register_loss,
    weighted_mean,
)
from easy_rec.protos import loss_pb2

_PROB_EPSILON = 1e-7


def _smoothed_cross_entropy(labels: tf.Tensor, logits: tf.Tensor, smoothing: float
                            ) -> tf.Tensor:
    targets = labels * (1.0 - smoothing) + 0.5 * smoothing if smoothing else labels
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)


def sigmoid_focal_loss(labels: tf.Tensor, logits: tf.Tensor, gamma: float = 2.0,
                       alpha: float | None = None, ohem_ratio: float = 1.0,
                       weights: tf.Tensor | None = None, label_smoothing: float = 0.0
                       ) -> tf.Tensor:
    """Focal loss of [n] logits against [n] labels in {0, 1} (see the module docstring)."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    logits = tf.reshape(logits, [-1])
    probs = tf.clip_by_value(tf.sigmoid(logits), _PROB_EPSILON, 1.0 - _PROB_EPSILON)
    p_t = labels * probs + (1.0 - labels) * (1.0 - probs)
    factor = tf.pow(1.0 - p_t, gamma)
    if alpha is not None:
        factor *= labels * alpha + (1.0 - labels) * (1.0 - alpha)
    if weights is not None:
        factor *= tf.cast(weights, tf.float32)
    per_row = _smoothed_cross_entropy(labels, logits, label_smoothing)
    if ohem_ratio >= 1.0:
        return weighted_mean(per_row, factor)
    return hard_example_mean(per_row * factor, ohem_ratio)


def f1_reweighted_loss(labels: tf.Tensor, logits: tf.Tensor, beta_square: float = 1.0,
                       label_smoothing: float = 0.0, weights: tf.Tensor | None = None
                       ) -> tf.Tensor:
    """Cross entropy with negatives weighted for an F_beta trade-off (module docstring)."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    logits = tf.reshape(logits, [-1])
    size = tf.cast(tf.size(labels), tf.float32)
    positives = tf.reduce_sum(labels)
    true_positives = tf.reduce_sum(tf.sigmoid(logits))
    true_negatives = size - true_positives
    negative_weight = true_positives / (
        beta_square * positives + (size - positives) - true_negatives + 1e-8)
    row_weights = tf.where(tf.equal(labels, 1.0), tf.ones_like(labels),
                           negative_weight * tf.ones_like(labels))
    if weights is not None:
        row_weights *= tf.cast(weights, tf.float32)
    return weighted_mean(_smoothed_cross_entropy(labels, logits, label_smoothing), row_weights)


@register_loss(loss_pb2.BINARY_FOCAL_LOSS, head="binary")
class BinaryFocal(LossTerm):
    """BinaryFocalLoss { gamma alpha ohem_ratio label_smoothing }."""

    param_type = loss_pb2.BinaryFocalLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        p = self.param
        return sigmoid_focal_loss(inputs.labels, inputs.outputs["logits"], p.gamma,
                                  p.alpha if p.HasField("alpha") else None, p.ohem_ratio,
                                  inputs.weights, p.label_smoothing)


@register_loss(loss_pb2.F1_REWEIGHTED_LOSS, head="binary")
class F1Reweighted(LossTerm):
    """F1ReweighedLoss { f1_beta_square label_smoothing }."""

    param_type = loss_pb2.F1ReweighedLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return f1_reweighted_loss(inputs.labels, inputs.outputs["logits"],
                                  self.param.f1_beta_square, self.param.label_smoothing,
                                  inputs.weights)

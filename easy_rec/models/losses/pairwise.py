"""Pairwise ranking losses over the pairs of rows (i, j) of a batch with label_i > label_j
(and, when the loss names a session_name column, the same session, e.g. the same user).

With scores s = logits / temperature and d_ij = s_i - s_j:

PAIR_WISE_LOSS          log(1 + exp(-(d_ij - margin)))        (EasyRec's deprecated form)
PAIRWISE_LOGISTIC_LOSS  log(1 + exp(-(d_ij - m_ij)))          RankNet; m_ij = (y_i - y_j) / T with
                        use_label_margin, else hinge_margin when set, else 0
PAIRWISE_FOCAL_LOSS     focal loss of d_ij against target 1, over the pairs with d_ij <
                        hinge_margin when hinge_margin is set (reweighted.sigmoid_focal_loss)
PAIRWISE_HINGE_LOSS     max(0, m_ij - d_ij), m_ij = y_i - y_j (labels / T when label_is_logits)
                        with use_label_margin, else margin; use_exponent: max(0, exp(m - d) - 1)
                        on sigmoid(labels) and sigmoid(logits)

A pair weighs its first row's weight; the loss is the weighted mean over the pairs (0 when a
batch has no pair), or with ohem_ratio < 1 the mean of the hardest share of weighted pair
losses (those > 0). References: Burges et al., "Learning to Rank using Gradient Descent"
(RankNet), ICML 2005; EasyRec's pairwise_loss.py for the options.
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from easy_rec.models.losses.registry import (
    LossInputs,
    LossTerm,
    hard_example_mean,
    register_loss,
    weighted_mean,
)
from easy_rec.models.losses.reweighted import sigmoid_focal_loss
from easy_rec.protos import loss_pb2

_EXP_LIMIT = 88.0  # exp(88) is about the largest float32


@dataclass(frozen=True)
class Pairs:
    """The ordered pairs of a batch: score and label differences and the pairs' weights,
    each [num_pairs]."""

    score_diff: tf.Tensor
    label_diff: tf.Tensor
    weights: tf.Tensor | None


def ordered_pairs(labels: tf.Tensor, scores: tf.Tensor, sessions: tf.Tensor | None = None,
                  weights: tf.Tensor | None = None, extra_mask: tf.Tensor | None = None
                  ) -> Pairs:
    """Pairs (i, j) with labels_i > labels_j (same session when sessions are given; also
    extra_mask [B, B] when given); pair weight = weights_i."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    scores = tf.reshape(scores, [-1])
    label_diff = labels[:, None] - labels[None, :]
    score_diff = scores[:, None] - scores[None, :]
    mask = label_diff > 0
    if sessions is not None:
        mask = tf.logical_and(mask, tf.equal(sessions[:, None], sessions[None, :]))
    if extra_mask is not None:
        mask = tf.logical_and(mask, extra_mask)
    pair_weights = None
    if weights is not None:
        rows = tf.cast(tf.reshape(weights, [-1, 1]), tf.float32)
        pair_weights = tf.boolean_mask(tf.broadcast_to(rows, tf.shape(mask)), mask)
    return Pairs(tf.boolean_mask(score_diff, mask), tf.boolean_mask(label_diff, mask),
                 pair_weights)


def reduce_pairs(losses: tf.Tensor, weights: tf.Tensor | None, ohem_ratio: float) -> tf.Tensor:
    """Weighted mean of pair losses, or the hard-example mean when ohem_ratio < 1."""
    if ohem_ratio >= 1.0:
        return weighted_mean(losses, weights)
    return hard_example_mean(losses if weights is None else losses * weights, ohem_ratio)


def pairwise_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor | None = None,
                  margin: float = 0.0, temperature: float = 1.0,
                  weights: tf.Tensor | None = None) -> tf.Tensor:
    """PAIR_WISE_LOSS: mean log(1 + exp(-(d_ij - margin)))."""
    pairs = ordered_pairs(labels, logits / temperature, sessions, weights)
    return weighted_mean(tf.nn.softplus(-(pairs.score_diff - margin)), pairs.weights)


def pairwise_logistic_loss(labels: tf.Tensor, logits: tf.Tensor,
                           sessions: tf.Tensor | None = None, temperature: float = 1.0,
                           hinge_margin: float | None = None, ohem_ratio: float = 1.0,
                           use_label_margin: bool = False, weights: tf.Tensor | None = None
                           ) -> tf.Tensor:
    """PAIRWISE_LOGISTIC_LOSS (RankNet): log(1 + exp(-(d_ij - m_ij)))."""
    pairs = ordered_pairs(labels, logits / temperature, sessions, weights)
    diff = pairs.score_diff
    if use_label_margin:
        diff -= pairs.label_diff / temperature
    elif hinge_margin is not None:
        diff -= hinge_margin
    return reduce_pairs(tf.nn.softplus(-diff), pairs.weights, ohem_ratio)


def pairwise_focal_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor | None = None,
                        hinge_margin: float | None = None, gamma: float = 2.0,
                        alpha: float | None = None, ohem_ratio: float = 1.0,
                        temperature: float = 1.0, weights: tf.Tensor | None = None
                        ) -> tf.Tensor:
    """PAIRWISE_FOCAL_LOSS: focal loss of each pair's score difference against target 1."""
    scores = tf.reshape(logits, [-1]) / temperature
    easy = None
    if hinge_margin is not None:
        easy = scores[:, None] - scores[None, :] < hinge_margin
    pairs = ordered_pairs(labels, scores, sessions, weights, extra_mask=easy)
    return sigmoid_focal_loss(tf.ones_like(pairs.score_diff), pairs.score_diff, gamma, alpha,
                              ohem_ratio, pairs.weights)


def pairwise_hinge_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor | None = None,
                        temperature: float = 1.0, margin: float = 1.0, ohem_ratio: float = 1.0,
                        label_is_logits: bool = True, use_label_margin: bool = True,
                        use_exponent: bool = False, weights: tf.Tensor | None = None
                        ) -> tf.Tensor:
    """PAIRWISE_HINGE_LOSS: max(0, m_ij - d_ij), or max(0, exp(m_ij - d_ij) - 1)."""
    labels = tf.cast(labels, tf.float32)
    scores = logits / temperature
    if label_is_logits:
        labels /= temperature
    if use_exponent:
        labels, scores = tf.sigmoid(labels), tf.sigmoid(scores)
    pairs = ordered_pairs(labels, scores, sessions, weights)
    diff = (pairs.label_diff if use_label_margin else margin) - pairs.score_diff
    if use_exponent:
        losses = tf.nn.relu(tf.exp(tf.clip_by_value(diff, -_EXP_LIMIT, _EXP_LIMIT)) - 1.0)
    else:
        losses = tf.nn.relu(diff)
    return reduce_pairs(losses, pairs.weights, ohem_ratio)


@register_loss(loss_pb2.PAIR_WISE_LOSS, head="binary")
class PairWise(LossTerm):
    """PairwiseLoss { margin session_name temperature }."""

    param_type = loss_pb2.PairwiseLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return pairwise_loss(inputs.labels, inputs.outputs["logits"], self.sessions(inputs),
                             self.param.margin, self.param.temperature, inputs.weights)


@register_loss(loss_pb2.PAIRWISE_LOGISTIC_LOSS, head="binary")
class PairwiseLogistic(LossTerm):
    """PairwiseLogisticLoss { temperature session_name hinge_margin ohem_ratio
    use_label_margin }."""

    param_type = loss_pb2.PairwiseLogisticLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        p = self.param
        return pairwise_logistic_loss(
            inputs.labels, inputs.outputs["logits"], self.sessions(inputs), p.temperature,
            p.hinge_margin if p.HasField("hinge_margin") else None, p.ohem_ratio,
            p.use_label_margin, inputs.weights)


@register_loss(loss_pb2.PAIRWISE_FOCAL_LOSS, head="binary")
class PairwiseFocal(LossTerm):
    """PairwiseFocalLoss { gamma alpha hinge_margin session_name ohem_ratio temperature }."""

    param_type = loss_pb2.PairwiseFocalLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        p = self.param
        return pairwise_focal_loss(
            inputs.labels, inputs.outputs["logits"], self.sessions(inputs),
            p.hinge_margin if p.HasField("hinge_margin") else None, p.gamma,
            p.alpha if p.HasField("alpha") else None, p.ohem_ratio, p.temperature,
            inputs.weights)


@register_loss(loss_pb2.PAIRWISE_HINGE_LOSS, head="binary")
class PairwiseHinge(LossTerm):
    """PairwiseHingeLoss { temperature margin ohem_ratio label_is_logits use_label_margin
    use_exponent session_name }."""

    param_type = loss_pb2.PairwiseHingeLoss

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        p = self.param
        return pairwise_hinge_loss(
            inputs.labels, inputs.outputs["logits"], self.sessions(inputs), p.temperature,
            p.margin, p.ohem_ratio, p.label_is_logits, p.use_label_margin, p.use_exponent,
            inputs.weights)

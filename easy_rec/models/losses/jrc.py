"""JRC_LOSS: joint ranking and calibration (Sheng et al., "Joint Optimization of Ranking and
Calibration with Contextualized Hybrid Model", KDD 2023, https://arxiv.org/abs/2208.06164).

The task has two logits per row, z = (z_0, z_1) ([B, 2], num_class 2). The loss mixes

    calibration  ce = softmax cross entropy of z against the label (row-weighted mean)
    ranking      ge = within each session (session_name column) s, the positives should have
                 the largest z_1 and the negatives the largest z_0:
                 L_s = - sum_{i in s, y_i = 1} log softmax_s(z_1)_i
                       - sum_{i in s, y_i = 0} log softmax_s(z_0)_i
                 ge = (1 / B) sum_j w_j L_{s(j)} / |s(j)|   (each row j averages its session)

With same_label_loss false, a row's softmax runs over itself and the rows of its session with
the other label only (rows with its own label are left out), and ge = (1 / B) sum_j w_j l_j.

loss_weight_strategy mixes them: 'fixed' alpha ce + (1 - alpha) ge; 'random_uniform' u ce +
(1 - u) ge with u ~ U(0, 1) each step; 'random_normal' softmax of two N(0, 1) draws;
'random_bernoulli' a random one of the two, or both halved when the draw picks none or both;
'uncertainty' exp(-u1) ce + u1 / 2 + exp(-u2) ge + u2 / 2 with learned u1, u2 (starting at 0).
"""
from __future__ import annotations

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.models.losses.registry import LossInputs, LossTerm, register_loss, weighted_mean
from easy_rec.protos import loss_pb2

STRATEGIES = ("fixed", "random_uniform", "random_normal", "random_bernoulli", "uncertainty")
_MASKED = -1e9


def _list_log_probs(scores: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """[B(i), B(j)] log softmax over the candidates i of each anchor j (candidates [B, B] in
    {0, 1}) of the scores of the candidates [B]."""
    return tf.nn.log_softmax(scores[:, None] + (1.0 - candidates) * _MASKED, axis=0)


def generative_loss(labels: tf.Tensor, logits: tf.Tensor, sessions: tf.Tensor,
                    weights: tf.Tensor | None = None, same_label_loss: bool = True
                    ) -> tf.Tensor:
    """JRC's ranking part ge (module docstring)."""
    positive = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    anchor_weights = tf.ones_like(positive) if weights is None else tf.cast(weights, tf.float32)
    same = tf.cast(tf.equal(sessions[:, None], sessions[None, :]), tf.float32)
    diagonal = tf.eye(tf.shape(same)[0])
    total = 0.0
    for label, scores in ((positive, logits[:, 1]), (1.0 - positive, logits[:, 0])):
        if same_label_loss:
            hits = label[:, None] * same * anchor_weights[None, :]
            total += -tf.reduce_sum(hits * _list_log_probs(scores, same), axis=0) \
                / tf.reduce_sum(same, axis=0)
        else:
            # a row competes with itself and the rows of its session with the other label
            candidates = same * (1.0 - (1.0 - diagonal) * label[:, None])
            own = tf.linalg.diag_part(_list_log_probs(scores, candidates))
            total += -label * own * anchor_weights
    return tf.reduce_mean(total)


class JRCWeighting(tf.Module):
    """The loss_weight_strategy of JRC: mixes ce and ge (module docstring)."""

    def __init__(self, strategy: str = "fixed", alpha: float = 0.5, name: str | None = None):
        super().__init__(name=name)
        if strategy not in STRATEGIES:
            raise ValueError(f"jrc_loss.loss_weight_strategy {strategy!r} is not one of "
                             f"{', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.alpha = alpha
        if strategy == "uncertainty":
            with self.name_scope:
                self.ranking_uncertainty = tf.Variable(0.0, name="ranking_uncertainty")
                self.calibration_uncertainty = tf.Variable(0.0, name="calibration_uncertainty")

    def __call__(self, ce: tf.Tensor, ge: tf.Tensor) -> tf.Tensor:
        if self.strategy == "fixed":
            return self.alpha * ce + (1.0 - self.alpha) * ge
        if self.strategy == "random_uniform":
            u = tf.random.uniform([])
            return u * ce + (1.0 - u) * ge
        if self.strategy == "random_normal":
            mix = tf.nn.softmax(tf.random.normal([2]))
            return mix[0] * ce + mix[1] * ge
        if self.strategy == "random_bernoulli":
            draw = tf.cast(tf.random.uniform([2]) < 0.5, tf.float32)
            mix = tf.where(tf.equal(tf.reduce_sum(draw), 1.0), draw, tf.constant([0.5, 0.5]))
            return mix[0] * ce + mix[1] * ge
        u1, u2 = self.ranking_uncertainty, self.calibration_uncertainty
        return tf.exp(-u1) * ce + 0.5 * u1 + tf.exp(-u2) * ge + 0.5 * u2


@register_loss(loss_pb2.JRC_LOSS, head="jrc")
class JRC(LossTerm):
    """JRCLoss { session_name alpha same_label_loss loss_weight_strategy }."""

    param_type = loss_pb2.JRCLoss

    def __init__(self, param: Message | None = None, name: str | None = None):
        super().__init__(param, name)
        with self.name_scope:
            self.weighting = JRCWeighting(self.param.loss_weight_strategy, self.param.alpha,
                                          name="weighting")

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        logits = inputs.outputs["logits"]
        labels = tf.cast(tf.reshape(inputs.labels, [-1]), tf.int32)
        ce = weighted_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits),
                           inputs.weights)
        ge = generative_loss(labels, logits, self.sessions(inputs), inputs.weights,
                             self.param.same_label_loss)
        return self.weighting(ce, ge)

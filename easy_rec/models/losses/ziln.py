"""ZILN_LOSS: zero-inflated lognormal loss for values that are often 0 and otherwise heavy
tailed, such as customer lifetime value (Wang et al., "A Deep Probabilistic Model for
Customer Lifetime Value Prediction", 2019, https://arxiv.org/abs/1912.07753).

The task has three logits per row (num_class 3): z_0 is the logit of P(y > 0), z_1 the mean
mu and softplus(z_2) the standard deviation sigma (clipped to [sqrt(1e-7), 5]) of log y given
y > 0. With q = [y > 0]:

    loss = BCE(q, z_0) + (- sum_i q_i log LogNormal(y_i; mu_i, sigma_i) / sum_i q_i)
           + 0.01 mean(mu^2) + 0.01 mean(z_2^2)

(the last two keep mu and sigma from drifting, as EasyRec's version does). Row weights weigh
the classification mean and the regression sum. The prediction is
P(y > 0) = sigmoid(z_0) and E[y] = sigmoid(z_0) exp(mu + sigma^2 / 2) (computed in log
space, clipped to exp(20)).
"""
from __future__ import annotations

import math

import tensorflow as tf

from easy_rec.models.losses.registry import LossInputs, LossTerm, register_loss, weighted_mean
from easy_rec.protos import loss_pb2

MAX_SIGMA = 5.0
MAX_LOG_PREDICTION = 20.0
LOCATION_PENALTY = 0.01
SCALE_PENALTY = 0.01
_MIN_SIGMA = math.sqrt(1e-7)


def _sigma(logits: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(tf.nn.softplus(logits[:, 2]), _MIN_SIGMA, MAX_SIGMA)


def ziln_prediction(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(P(y > 0) [B], E[y] [B]) from [B, 3] logits."""
    mu, sigma = logits[:, 1], _sigma(logits)
    log_mean = tf.math.log_sigmoid(logits[:, 0]) + mu + 0.5 * tf.square(sigma)
    return tf.sigmoid(logits[:, 0]), tf.exp(tf.clip_by_value(log_mean, -100.0,
                                                             MAX_LOG_PREDICTION))


def ziln_loss(labels: tf.Tensor, logits: tf.Tensor, weights: tf.Tensor | None = None
              ) -> tf.Tensor:
    """Zero-inflated lognormal negative log likelihood of [B] labels under [B, 3] logits."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    positive = tf.cast(labels > 0, tf.float32)
    classification = weighted_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=positive, logits=logits[:, 0]), weights)
    mu, sigma = logits[:, 1], _sigma(logits)
    log_y = tf.math.log(tf.where(labels > 0, labels, tf.ones_like(labels)))
    log_prob = (-log_y - tf.math.log(sigma) - 0.5 * math.log(2.0 * math.pi)
                - tf.square(log_y - mu) / (2.0 * tf.square(sigma)))
    counted = positive if weights is None else positive * tf.cast(weights, tf.float32)
    regression = -tf.reduce_sum(counted * log_prob) / (tf.reduce_sum(counted) + 1e-8)
    penalty = (LOCATION_PENALTY * tf.reduce_mean(tf.square(mu))
               + SCALE_PENALTY * tf.reduce_mean(tf.square(logits[:, 2])))
    return classification + regression + penalty


@register_loss(loss_pb2.ZILN_LOSS, head="ziln")
class ZeroInflatedLognormal(LossTerm):
    """ZILN_LOSS (no parameters)."""

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return ziln_loss(inputs.labels, inputs.outputs["logits"], inputs.weights)

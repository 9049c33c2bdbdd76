"""Pointwise losses: each row's loss depends on its own label and output only.

CLASSIFICATION               sigmoid cross entropy (num_class 1) or sparse softmax cross
                             entropy (num_class > 1) of the logits; SOFTMAX_CROSS_ENTROPY is the
                             same on a ranking model's output (matching models give it their
                             own in-batch / sampled meaning)
BINARY_CROSS_ENTROPY_LOSS    sigmoid cross entropy of the logits (labels may be soft, in [0, 1])
L2_LOSS / SIGMOID_L2_LOSS    (y - label)^2, y = logits or sigmoid(logits)

Every loss is the row-weighted mean (see registry.weighted_mean).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.models.losses.registry import LossInputs, LossTerm, register_loss, weighted_mean
from easy_rec.protos import loss_pb2


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor, weights: tf.Tensor | None = None
                  ) -> tf.Tensor:
    """Sigmoid cross entropy of [B] logits, or sparse softmax cross entropy of [B, C] logits
    (integer labels), row-weighted mean."""
    if logits.shape.rank == 2 and logits.shape[-1] > 1:
        per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=logits)
    else:
        per_row = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.float32), logits=tf.reshape(logits, [-1]))
    return weighted_mean(per_row, weights)


def squared_error(labels: tf.Tensor, predictions: tf.Tensor, weights: tf.Tensor | None = None
                  ) -> tf.Tensor:
    """(predictions - labels)^2, row-weighted mean."""
    diff = tf.reshape(predictions, [-1]) - tf.cast(labels, tf.float32)
    return weighted_mean(tf.square(diff), weights)


def _classification_head(num_class: int) -> str:
    return "multiclass" if num_class > 1 else "binary"


@register_loss(loss_pb2.CLASSIFICATION, head=_classification_head)
class Classification(LossTerm):
    """Sigmoid or softmax cross entropy of the logits."""

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return cross_entropy(inputs.labels, inputs.outputs["logits"], inputs.weights)


@register_loss(loss_pb2.SOFTMAX_CROSS_ENTROPY, head=_classification_head)
class SoftmaxCrossEntropy(Classification):
    """Softmax (num_class > 1) or sigmoid cross entropy of the logits."""


@register_loss(loss_pb2.BINARY_CROSS_ENTROPY_LOSS, head="binary")
class BinaryCrossEntropy(Classification):
    """Sigmoid cross entropy of [B] logits against labels in [0, 1]."""


@register_loss(loss_pb2.L2_LOSS, head="regression")
class SquaredError(LossTerm):
    """(y - label)^2 of the value output y."""

    def __call__(self, inputs: LossInputs) -> tf.Tensor:
        return squared_error(inputs.labels, inputs.outputs["y"], inputs.weights)


@register_loss(loss_pb2.SIGMOID_L2_LOSS, head="sigmoid")
class SigmoidSquaredError(SquaredError):
    """(sigmoid(logits) - label)^2; the head makes y = sigmoid(logits)."""

"""Auxiliary losses over behaviour histories with negatives taken from the batch itself.

References: Zhou et al., "Deep Interest Evolution Network for Click-Through Rate Prediction"
(DIEN), AAAI 2019, https://arxiv.org/abs/1809.03672; Lyu et al., "Deep Match to Rank Model
for Personalized Click-Through Rate Prediction" (DMR), AAAI 2020.

    DIEN: mean over valid t of -log sigmoid(p_t . e_{t+1}) - log(1 - sigmoid(p_t . e'_{t+1}))
    DMR:  mean over valid users of -u_i . v_i + log sum_{j valid} exp(u_i . v_j)

The backbone component AuxiliaryLoss (EasyRec's, for contrastive learning) adds a loss over
two [batch, dim] views x, y to the model's loss (loss_weight times):

    l2_loss:   mean_i ||x_i - y_i||^2
    info_nce:  mean_i of the softmax cross entropy of row i of x y^T / temperature on label i
    nce_loss:  NT-Xent: each of the 2n rows of z = [x; y] against its pair, the other 2n - 2
               rows as negatives (logits z z^T / temperature)

Shapes: next_behavior_loss predictions and sequence [batch, len, dim], mask [batch, len];
in_batch_match_loss users and items [batch, dim], valid masks [batch]; AuxiliaryLoss takes
[x, y]; all -> a scalar.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.match import all_pair_scores, masked_softmax_cross_entropy
from easy_rec.layers.registry import register_layer

AUXILIARY_LOSSES = ("l2_loss", "info_nce", "nce_loss")


def _same_rows(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Element-wise over the leading axes: True where the vectors (last axis) are identical."""
    return tf.reduce_all(tf.equal(a, b), axis=-1)


def next_behavior_loss(predictions: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """DIEN's auxiliary loss: state t should score behaviour t + 1 above a negative behaviour.

    predictions [batch, len, dim]: the interest state after each step, mapped to the
    behaviours' width; sequence [batch, len, dim] right-padded behaviours; mask [batch, len].
    The negative for (row, t + 1) is behaviour t + 1 of another row (the batch rolled by a
    random non-zero shift). Returns the mean over valid pairs of

        -log sigmoid(p_t . e_{t+1}) - log(1 - sigmoid(p_t . e'_{t+1}))

    where a pair is valid when both behaviours are real and differ; 0 without valid pairs.
    """
    batch = tf.shape(sequence)[0]
    shift = tf.random.uniform([], 1, tf.maximum(batch, 2), dtype=tf.int32)
    positive, negative = sequence[:, 1:], tf.roll(sequence, shift, axis=0)[:, 1:]
    valid = mask[:, 1:] & tf.roll(mask, shift, axis=0)[:, 1:]
    valid &= tf.logical_not(_same_rows(positive, negative))
    state = predictions[:, :-1]
    pos_logits = tf.reduce_sum(state * positive, axis=-1)
    neg_logits = tf.reduce_sum(state * negative, axis=-1)
    losses = tf.nn.softplus(-pos_logits) + tf.nn.softplus(neg_logits)
    valid_f = tf.cast(valid, losses.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * valid_f), tf.reduce_sum(valid_f))


def in_batch_match_loss(users: tf.Tensor, items: tf.Tensor, user_valid: tf.Tensor,
                        item_valid: tf.Tensor) -> tf.Tensor:
    """Mean over valid users of the softmax cross entropy of user i's own item i against the
    batch's other items (DMR's next-item match loss with in-batch negatives).

    users [batch, dim], items [batch, dim]; user_valid / item_valid [batch] bool. Invalid items
    and other rows' copies of row i's item (accidental hits) are left out of row i's softmax;
    a user is only counted when its own item is valid. 0 without valid users.
    """
    size = tf.shape(users)[0]
    diagonal = tf.eye(size, dtype=tf.bool)
    duplicate = _same_rows(items[:, None, :], items[None, :, :])
    candidates = diagonal | (item_valid[None, :] & tf.logical_not(duplicate))
    losses = masked_softmax_cross_entropy(all_pair_scores(users, items), candidates,
                                          tf.range(size))
    counted = tf.cast(user_valid & item_valid, losses.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * counted), tf.reduce_sum(counted))


def _mean_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def contrastive_loss(kind: str, x: tf.Tensor, y: tf.Tensor, temperature: float) -> tf.Tensor:
    """One of AUXILIARY_LOSSES between the [batch, dim] views x and y."""
    if kind == "l2_loss":
        return tf.reduce_mean(tf.reduce_sum(tf.square(x - y), axis=1))
    size = tf.shape(x)[0]
    if kind == "info_nce":
        return _mean_cross_entropy(tf.matmul(x, y, transpose_b=True) / temperature,
                                   tf.range(size))
    z = tf.concat([x, y], axis=0)
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    rows = tf.range(2 * size)
    pairs = tf.concat([rows[size:], rows[:size]], axis=0)  # row i's other view
    logits = tf.where(tf.eye(2 * size, dtype=tf.bool), logits.dtype.min, logits)
    return _mean_cross_entropy(logits, pairs)


@register_layer("AuxiliaryLoss")
class AuxiliaryLoss(Layer):
    """Adds loss_weight * contrastive_loss(loss_type, x, y) to the model's loss (and returns it)."""

    def __init__(self, loss_type: str, loss_weight: float = 1.0, temperature: float = 0.1,
                 name: str | None = None):
        super().__init__(name=name)
        if loss_type not in AUXILIARY_LOSSES:
            raise ValueError(f"loss_type must be one of {', '.join(AUXILIARY_LOSSES)}, "
                             f"got {loss_type!r}")
        self.loss_type, self.loss_weight, self.temperature = loss_type, loss_weight, temperature

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:  # noqa: ARG002
        x, y = inputs
        return self.loss_weight * contrastive_loss(self.loss_type, x, y, self.temperature)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> AuxiliaryLoss:
        """loss_type (required), loss_weight (1.0), temperature (0.1); input [x, y]."""
        params.require("loss_type")
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(f"AuxiliaryLoss takes two views [x, y] (merge_inputs_into_list: "
                             f"true), got {input_shape}")
        return cls(params.get("loss_type", "", str), params.get("loss_weight", 1.0),
                   params.get("temperature", 0.1), name=name)

    def call_block(self, inputs: Sequence[tf.Tensor], training: bool,
                   context: BlockContext) -> tf.Tensor:
        loss = self(inputs, training)
        context.add_loss(f"{self.name}_{self.loss_type}", loss)
        return loss

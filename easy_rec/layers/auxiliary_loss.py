"""Auxiliary losses over behaviour histories with negatives taken from the batch itself.

References: Zhou et al., "Deep Interest Evolution Network for Click-Through Rate Prediction"
(DIEN), AAAI 2019, https://arxiv.org/abs/1809.03672; Lyu et al., "Deep Match to Rank Model
for Personalized Click-Through Rate Prediction" (DMR), AAAI 2020.

    DIEN: mean over valid t of -log sigmoid(p_t . e_{t+1}) - log(1 - sigmoid(p_t . e'_{t+1}))
    DMR:  mean over valid users of -u_i . v_i + log sum_{j valid} exp(u_i . v_j)

Shapes: next_behavior_loss predictions and sequence [batch, len, dim], mask [batch, len];
in_batch_match_loss users and items [batch, dim], valid masks [batch]; both -> a scalar.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.match import all_pair_scores, masked_softmax_cross_entropy


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

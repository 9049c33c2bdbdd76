"""Cloze-task helpers for masked sequence models: choose the items to mask, and append a token
after the last real element of right-padded sequences.

Reference: Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer", CIKM 2019, https://arxiv.org/abs/1904.06690. Training
masks each item of a sequence with probability rho (at least one per non-empty row) and
predicts the masked items; inference appends [mask] after the history and predicts it.

Shapes: cloze_mask bool [batch, len] -> bool [batch, len]; append_after_last values
[batch, len, ...], lengths [batch] -> ([batch, len + 1, ...], mask [batch, len + 1]).
"""
from __future__ import annotations

import tensorflow as tf


def cloze_mask(mask: tf.Tensor, mask_prob: float, seed: int | None = None) -> tf.Tensor:
    """bool [batch, len]: each real element (mask True) is chosen with probability mask_prob;
    a non-empty row where nothing was chosen gets its last real element chosen, so every row
    with items contributes a prediction. Padding is never chosen."""
    mask = tf.cast(mask, tf.bool)
    chosen = tf.logical_and(tf.random.uniform(tf.shape(mask), seed=seed) < mask_prob, mask)
    length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    last = tf.one_hot(length - 1, tf.shape(mask)[1], on_value=True, off_value=False,
                      dtype=tf.bool)
    none_chosen = tf.logical_not(tf.reduce_any(chosen, axis=1, keepdims=True))
    return tf.logical_or(chosen, tf.logical_and(last, none_chosen))


def append_after_last(values: tf.Tensor, length: tf.Tensor, item: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor]:
    """Right-padded values [batch, len, ...] with `length` real elements per row, and `item`
    ([batch, ...], or [...] shared by all rows) -> ([batch, len + 1, ...] with item at index
    length of each row, bool mask [batch, len + 1] of the length + 1 real elements)."""
    length = tf.cast(length, tf.int32)
    padded = tf.concat([values, tf.zeros_like(values[:, :1])], axis=1)
    slots = tf.shape(padded)[1]
    at = tf.one_hot(length, slots, dtype=values.dtype)  # [batch, len + 1]
    at = tf.reshape(at, tf.concat([tf.shape(at), tf.ones([values.shape.rank - 2], tf.int32)], 0))
    item = tf.cast(item, values.dtype)
    if item.shape.rank == values.shape.rank - 2:  # one item for every row
        item = item[None]
    item = tf.broadcast_to(tf.expand_dims(item, 1), tf.shape(padded[:, :1]))
    return padded * (1 - at) + item * at, tf.sequence_mask(length + 1, slots)

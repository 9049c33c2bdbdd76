"""DIEN's next-behaviour loss and DMR's in-batch match loss against numpy."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.auxiliary_loss import (
    AuxiliaryLoss,
    contrastive_loss,
    in_batch_match_loss,
    next_behavior_loss,
)
from easy_rec.layers.component import BlockContext, struct_params
from layers.layer_helpers import sigmoid


# ------------------------------------------------------------------ auxiliary losses
def test_next_behavior_loss_matches_numpy():
    tf.random.set_seed(4)
    sequence = tf.random.normal([2, 4, 3])  # batch 2: the negative row is always the other one
    mask = tf.sequence_mask([4, 3], 4)
    predictions = tf.random.normal([2, 4, 3])
    got = float(next_behavior_loss(predictions, sequence, mask))
    e, p, m = sequence.numpy(), predictions.numpy(), mask.numpy()
    losses = []
    for row in range(2):
        for t in range(3):
            if m[row, t + 1] and m[1 - row, t + 1]:
                pos, neg = p[row, t] @ e[row, t + 1], p[row, t] @ e[1 - row, t + 1]
                losses.append(-np.log(sigmoid(pos)) - np.log(1 - sigmoid(neg)))
    assert len(losses) == 4
    assert got == pytest.approx(np.mean(losses), rel=1e-5)
    empty = next_behavior_loss(predictions, sequence, tf.zeros_like(mask))
    assert float(empty) == 0.0


def test_in_batch_match_loss_matches_numpy_and_skips_accidental_hits():
    users = tf.constant([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0]])
    items = tf.constant([[2.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])  # rows 0, 2: one item
    user_valid = tf.constant([True, True, False, True])
    item_valid = tf.constant([True, True, True, False])
    got = float(in_batch_match_loss(users, items, user_valid, item_valid))
    scores = users.numpy() @ items.numpy().T
    # row 0: candidates 0, 1 (2 duplicates its item, 3 invalid); row 1: 0, 1, 2
    want = [-scores[0, 0] + np.log(np.exp(scores[0, [0, 1]]).sum()),
            -scores[1, 1] + np.log(np.exp(scores[1, [0, 1, 2]]).sum())]
    assert got == pytest.approx(np.mean(want), rel=1e-5)


def test_contrastive_losses_by_hand():
    x = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    y = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    # l2: rows differ by 0 and 2 -> mean 1
    assert float(contrastive_loss("l2_loss", x, y, 1.0)) == pytest.approx(1.0)
    # info_nce, t = 1: logits x y^T = [[1, 1], [0, 0]]: both rows log 2
    assert float(contrastive_loss("info_nce", x, y, 1.0)) == pytest.approx(np.log(2.0))
    # nce (NT-Xent), t = 1, z = [x; y]: each row's pair against the 2 others (not itself)
    z = np.concatenate([x.numpy(), y.numpy()])
    logits = z @ z.T
    pairs = [2, 3, 0, 1]
    rows = [np.log(np.exp(np.delete(logits[i], i)).sum()) - logits[i, pairs[i]] for i in range(4)]
    assert float(contrastive_loss("nce_loss", x, y, 1.0)) == pytest.approx(np.mean(rows), rel=1e-5)


def test_auxiliary_loss_component_adds_its_weighted_loss():
    shapes = [tf.TensorShape([None, 2])] * 2
    layer = AuxiliaryLoss.from_params(
        struct_params({"loss_type": "l2_loss", "loss_weight": 0.5}), shapes, "aux")
    context = BlockContext(training=True)
    x = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    value = layer.call_block([x, x + 1.0], True, context)
    assert float(value) == pytest.approx(0.5 * 2.0)
    assert list(context.losses) == ["aux_l2_loss"]
    with pytest.raises(ValueError, match="loss_type must be one of"):
        AuxiliaryLoss("triplet")

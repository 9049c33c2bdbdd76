"""Two-tower building blocks: candidates, masking, softmax loss, towers."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers import match
from layers.layer_helpers import softmax_ce


def test_masking_of_accidental_hits_and_negative_rows():
    user = tf.constant(np.random.default_rng(0).normal(size=(4, 2, 3)), tf.float32)  # 2 interests
    item = tf.constant(np.random.default_rng(1).normal(size=(4, 3)), tf.float32)
    ids = tf.constant([7, 8, 7, 9])
    scores, valid, target = match.in_batch_candidates(user, item, ids)
    want = np.einsum("bkd,nd->bkn", user.numpy(), item.numpy()).max(axis=1)
    np.testing.assert_allclose(scores.numpy(), want, rtol=1e-5)
    np.testing.assert_array_equal(valid.numpy(), [[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 1],
                                                  [1, 1, 1, 1]])
    loss = match.masked_softmax_cross_entropy(scores, valid, target).numpy()
    np.testing.assert_allclose(loss, softmax_ce(want, valid.numpy(), np.arange(4)), rtol=1e-5)
    # a masked candidate's score does not matter
    bumped = scores.numpy().copy()
    bumped[0, 2] = 1e4
    again = match.masked_softmax_cross_entropy(tf.constant(bumped), valid, target).numpy()
    np.testing.assert_allclose(again, loss, rtol=1e-6)
    # sampled: each row's own item first; draws equal to it are masked
    negatives = tf.constant(np.random.default_rng(2).normal(size=(3, 3)), tf.float32)
    scores, valid, target = match.sampled_candidates(user, item, negatives, ids,
                                                     tf.constant([9, 7, 5]))
    np.testing.assert_array_equal(valid.numpy(), [[1, 1, 0, 1], [1, 1, 1, 1], [1, 1, 0, 1],
                                                  [1, 0, 1, 1]])
    assert target.numpy().tolist() == [0, 0, 0, 0]
    own = np.einsum("bkd,bd->bk", user.numpy(), item.numpy()).max(axis=1)
    np.testing.assert_allclose(scores.numpy()[:, 0], own, rtol=1e-5)

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


def test_embedding_tower_ends_in_a_linear_layer():
    tower = match.EmbeddingTower(2, [2, 1], activation="relu", use_bn=False)
    dense, = tower.mlp.dense_layers
    dense.kernel.assign([[1.0, 0.0], [0.0, 1.0]])
    dense.bias.assign([0.0, 0.0])
    tower.output_layer.kernel.assign([[1.0], [-2.0]])
    tower.output_layer.bias.assign([0.0])
    # relu([1, 2]) = [1, 2] -> 1 - 4 = -3: the linear output keeps its sign
    assert tower(tf.constant([[1.0, 2.0]]), training=False).numpy().tolist() == [[-3.0]]
    assert tower.output_dim == 1


def test_normalize_and_pair_scores():
    user = tf.constant([[3.0, 4.0]])
    np.testing.assert_allclose(match.normalize(user, cosine=True).numpy(), [[0.6, 0.8]])
    assert match.normalize(user, cosine=False) is user
    assert match.pair_scores(user, tf.constant([[1.0, 1.0]])).numpy().tolist() == [7.0]
    interests = tf.constant([[[1.0, 0.0], [0.0, 2.0]]])  # best interest: 2 * 1
    assert match.pair_scores(interests, tf.constant([[0.5, 1.0]])).numpy().tolist() == [2.0]


def test_batch_and_sampled_candidates():
    user = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    item = tf.constant([[2.0, 0.0], [0.0, 3.0]])
    negatives = tf.constant([[1.0, 1.0], [-1.0, 0.0]])
    scores, valid, target = match.batch_and_sampled_candidates(
        user, item, negatives, tf.constant([7, 8]), tf.constant([8, 9]))
    # columns: the batch's items 7, 8, then the draws 8, 9; row 1's draw of its item 8 masked
    np.testing.assert_allclose(scores.numpy(), [[2, 0, 1, -1], [0, 3, 1, 0]])
    np.testing.assert_array_equal(valid.numpy(), [[1, 1, 1, 1], [1, 1, 0, 1]])
    np.testing.assert_array_equal(target.numpy(), [0, 1])


def test_similarity_scale_uses_the_absolute_weight():
    scale = match.SimilarityScale()
    scale.weight.assign(-2.0)
    scale.bias.assign(0.5)
    np.testing.assert_allclose(scale(tf.constant([1.0, -1.0])).numpy(), [2.5, -1.5])


def test_history_hits_are_no_negatives():
    valid = tf.constant([[True, True, False, True, True]] * 3)
    history = tf.ragged.constant([["b", "x"], [], ["a", "b", "c"]])
    # columns 0-3 hold candidates a, b, c, d; column 4 (a hard negative) is not compared
    masked = match.mask_history_hits(valid, tf.constant([0, 1, 2]), history,
                                     tf.constant(["a", "b", "c", "d"]))
    # row 0 saw b (masked); row 1 saw nothing; row 2 saw a, b, c: a masked, b kept as its
    # target... is c (column 2), so b is masked too and c stays as `valid` had it
    np.testing.assert_array_equal(masked.numpy(), [[1, 0, 0, 1, 1],
                                                   [1, 1, 0, 1, 1],
                                                   [0, 0, 0, 1, 1]])
    # a row's own item (its target column) is never masked by its history
    kept = match.mask_history_hits(tf.ones([1, 2], tf.bool), tf.constant([1]),
                                   tf.ragged.constant([["a", "b"]]), tf.constant(["a", "b"]))
    assert kept.numpy().tolist() == [[False, True]]

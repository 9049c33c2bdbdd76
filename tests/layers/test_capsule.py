"""MIND's squash, interest count, B2I routing and label-aware attention."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.capsule import (
    CapsuleRouting,
    interest_count,
    label_aware_attention,
    squash,
    time_weights,
)


# -- layers ----------------------------------------------------------------------------------
def test_squash_matches_numpy():
    s = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    for power in (1.0, 0.5):
        norm2 = (s ** 2).sum(-1, keepdims=True)
        want = (norm2 / (1 + norm2)) ** power * s / np.sqrt(norm2)
        np.testing.assert_allclose(squash(tf.constant(s), power).numpy(), want, rtol=1e-5)
    assert not np.any(squash(tf.zeros([2, 3])).numpy())


def test_interest_count_is_log2_of_history_length():
    counts = interest_count(tf.constant([0, 1, 3, 4, 7, 8, 20, 300]), 4, constant=False)
    assert counts.numpy().tolist() == [1, 1, 1, 2, 2, 3, 4, 4]
    assert interest_count(tf.constant([1, 20]), 4, constant=True).numpy().tolist() == [4, 4]


def _capsule(max_len: int = 10, **kwargs) -> CapsuleRouting:
    """Routing of 5-wide behaviours into 4 capsules of width 6 (MIND's defaults otherwise)."""
    return CapsuleRouting(5, max_len, max_k=4, high_dim=6, num_iters=3, **kwargs)


def test_capsule_routing_shapes_active_capsules_and_padding():
    tf.random.set_seed(1)
    routing = _capsule(name="caps")
    length = tf.constant([10, 4, 1, 0])
    behaviours = tf.random.normal([4, 10, 5]) * tf.sequence_mask(length, 10, tf.float32)[..., None]
    capsules, active = routing(behaviours, length)
    assert capsules.shape == (4, 4, 6)
    assert active.numpy().sum(axis=1).tolist() == [3, 2, 1, 1]
    norms = np.linalg.norm(capsules.numpy(), axis=-1)
    assert np.all(norms[~active.numpy()] == 0) and np.all(norms < 1)
    assert np.all(norms[:3][active.numpy()[:3]] > 0)
    assert not np.any(capsules.numpy()[3])  # an empty history routes nothing
    # what padding holds never matters
    noisy = behaviours + tf.random.normal([4, 10, 5]) * tf.cast(
        ~tf.sequence_mask(length, 10), tf.float32)[..., None]
    np.testing.assert_allclose(routing(noisy, length)[0].numpy(), capsules.numpy(), atol=1e-6)
    # max_seq_len routes only the most recent behaviours
    recent = _capsule(max_seq_len=2, const_caps_num=True, name="r")
    caps_last2, active2 = recent(behaviours, length)
    assert caps_last2.shape == (4, 4, 6) and bool(tf.reduce_all(active2))
    older = tf.concat([tf.random.normal([4, 3, 5]), behaviours], axis=1)  # 3 older behaviours
    np.testing.assert_allclose(recent(older, length + 3)[0].numpy()[:2],
                               caps_last2.numpy()[:2], atol=1e-6)


def test_label_aware_attention_matches_numpy():
    rng = np.random.default_rng(2)
    interests = rng.normal(size=(3, 4, 5)).astype(np.float32)
    item = rng.normal(size=(3, 5)).astype(np.float32)
    active = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], bool)
    got = label_aware_attention(tf.constant(interests), tf.constant(item), tf.constant(active),
                                2.0).numpy()
    scores = np.einsum("bkd,bd->bk", interests, item)
    scaled = np.where(active, scores * 2.0, -np.inf)  # EasyRec: softmax(simi_pow * s)
    weights = np.exp(scaled - scaled.max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    np.testing.assert_allclose(got, np.einsum("bk,bkd->bd", weights, interests), rtol=1e-5)
    np.testing.assert_allclose(got[1], interests[1, 0], rtol=1e-6)
    # simi_pow >= 100: the best active interest alone
    hard = label_aware_attention(tf.constant(interests), tf.constant(item), tf.constant(active),
                                 100.0).numpy()
    best = np.argmax(np.where(active, scores, -np.inf), axis=1)
    np.testing.assert_allclose(hard, interests[np.arange(3), best], rtol=1e-6)


def test_time_weights_softmax_over_real_elements():
    time = tf.constant([[[0.0], [np.log(3.0)], [5.0]], [[1.0], [2.0], [3.0]]])
    mask = tf.constant([[True, True, False], [False, False, False]])
    weights = time_weights(time, mask).numpy()[:, :, 0]
    # row 0: softmax(0, log 3) = (1/4, 3/4), padding 0; row 1 has no behaviour
    np.testing.assert_allclose(weights, [[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]], atol=1e-6)


def test_scale_ratio_multiplies_the_final_capsules():
    tf.random.set_seed(4)
    behaviours, length = tf.random.normal([2, 10, 5]), tf.constant([10, 3])
    plain = _capsule(name="plain")
    scaled = _capsule(scale_ratio=2.5, name="scaled")
    for a, b in zip(plain.variables, scaled.variables):
        b.assign(a)
    # routing itself is unchanged; only the output capsules are scaled
    np.testing.assert_allclose(scaled(behaviours, length)[0].numpy(),
                               2.5 * plain(behaviours, length)[0].numpy(), rtol=1e-5)

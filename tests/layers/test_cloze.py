"""BERT4Rec's cloze mask and append-after-last."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.cloze import append_after_last, cloze_mask


def test_cloze_mask_rate_never_padding_and_every_row_predicts():
    tf.random.set_seed(3)
    length = tf.constant(np.random.default_rng(3).integers(0, 41, size=4000))
    mask = tf.sequence_mask(length, 40)
    chosen = cloze_mask(mask, 0.2).numpy()
    assert not np.any(chosen & ~mask.numpy())
    rate = chosen.sum() / mask.numpy().sum()
    assert 0.19 < rate < 0.22, rate  # 0.2 plus the rows where nothing was drawn
    non_empty = length.numpy() > 0
    assert np.all(chosen[non_empty].any(axis=1)) and not chosen[~non_empty].any()
    single = cloze_mask(tf.sequence_mask([3, 5], 6), 1e-9).numpy()
    assert single.tolist() == [[False, False, True, False, False, False],
                               [False, False, False, False, True, False]]


def test_append_after_last():
    ids, mask = append_after_last(tf.constant([[4, 5, 0], [6, 0, 0], [0, 0, 0]]),
                                  tf.constant([2, 1, 0]), tf.constant(9))
    assert ids.numpy().tolist() == [[4, 5, 9, 0], [6, 9, 0, 0], [9, 0, 0, 0]]
    assert mask.numpy().sum(axis=1).tolist() == [3, 2, 1]
    vectors, _ = append_after_last(tf.zeros([2, 2, 3]), tf.constant([1, 2]),
                                   tf.constant([[1.0, 2, 3], [4, 5, 6]]))
    assert vectors.numpy()[0, 1].tolist() == [1, 2, 3] and vectors.numpy()[1, 2].tolist() == [4, 5, 6]

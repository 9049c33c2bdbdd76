"""Embedding tables: lookups, combiners and initializers with rows assigned by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.embedding import EmbeddingTable, make_initializer


def table() -> EmbeddingTable:
    t = EmbeddingTable(3, 2)
    t.weights.assign([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    return t


def test_lookup_and_combiners():
    t = table()
    assert t.lookup(tf.constant([2, 0])).numpy().tolist() == [[3.0, 4.0], [1.0, 0.0]]
    ids = tf.ragged.constant([[0, 1], [2], []], dtype=tf.int64)
    weights = tf.ragged.constant([[1.0, 3.0], [2.0], []])
    # row 0: 1 * [1, 0] + 3 * [0, 2] = [1, 6]; row 1: 2 * [3, 4] = [6, 8]; empty row -> 0
    assert t.lookup_multi(ids, weights, "sum").numpy().tolist() == [[1, 6], [6, 8], [0, 0]]
    # mean divides by the weight sums 4 and 2; sqrtn by sqrt(1 + 9) and 2
    np.testing.assert_allclose(t.lookup_multi(ids, weights, "mean").numpy(),
                               [[0.25, 1.5], [3, 4], [0, 0]])
    np.testing.assert_allclose(t.lookup_multi(ids, weights, "sqrtn").numpy(),
                               [[1 / 10 ** 0.5, 6 / 10 ** 0.5], [3, 4], [0, 0]], rtol=1e-6)
    with pytest.raises(ValueError, match="combiner"):
        t.lookup_multi(ids, None, "max")


def test_lookup_sequence_pads_and_masks():
    padded, mask = table().lookup_sequence(tf.ragged.constant([[2, 1], [0]], tf.int64), 3)
    assert padded.numpy().tolist() == [[[3, 4], [0, 2], [0, 0]], [[1, 0], [0, 0], [0, 0]]]
    assert mask.numpy().tolist() == [[True, True, False], [True, False, False]]


def test_initializers():
    assert make_initializer(4, "constant", consts=[0.5, 1.0])([2, 2]).numpy().tolist() == [
        [0.5, 1.0], [0.5, 1.0]]
    assert not make_initializer(4, "constant")([2, 3]).numpy().any()
    tf.random.set_seed(0)
    # EasyRec's default: stddev 0.01 / sqrt(dim) = 0.001, truncated at 2 stddev (which scales
    # the standard deviation of the draws by 0.88)
    values = make_initializer(100)([200, 100]).numpy()
    assert abs(values.std() - 0.001 * 0.88) < 0.0001 and np.abs(values).max() <= 0.002
    assert make_initializer(4, "truncated_normal", mean=5.0, stddev=0.1)([50]).numpy().min() > 4.7
    with pytest.raises(ValueError, match="unknown initializer"):
        make_initializer(4, "uniform")
    assert EmbeddingTable(3, 2).own_kernels() == []

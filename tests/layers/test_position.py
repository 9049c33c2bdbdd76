"""Recency order, recency positions and position embeddings with values assigned by hand."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.position import PositionEmbedding, recency_positions, to_recency_order


def test_recency_order_reverses_the_real_prefix():
    seq = tf.constant([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert to_recency_order(seq, tf.constant([3, 2])).numpy().tolist() == [[3, 2, 1, 0],
                                                                           [5, 4, 0, 0]]


def test_recency_positions_count_back_from_the_last_element():
    assert recency_positions(tf.constant([3, 1, 0]), 4).numpy().tolist() == [
        [2, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_position_embedding_shares_the_last_row_beyond_the_table():
    table = PositionEmbedding(2, 2)
    table.weights.assign([[1.0, 2.0], [3.0, 4.0]])
    assert table(tf.constant([[0, 1, 5]])).numpy().tolist() == [[[1, 2], [3, 4], [3, 4]]]
    assert table.all().numpy().tolist() == [[1, 2], [3, 4]]
    assert table.own_kernels() == []

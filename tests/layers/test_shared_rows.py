"""Rows shared by a batch (one user × N items): the layers compute the user's part once, at
batch 1, and their results equal the plain computation on the broadcast rows."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers import shared_rows
from easy_rec.layers.core import MLP
from easy_rec.layers.interaction import fm_interaction
from easy_rec.layers.target_attention import SharedHistoryPairs, TargetAttention, pair_rows

ITEMS = 5


def _batch_one_matmuls(function, *args) -> list[list[int]]:
    """The [rows, depth] shapes of the MatMul left operands of `function`'s trace that have
    one row."""
    graph = tf.function(function).get_concrete_function(*args).graph
    return [op.inputs[0].shape.as_list() for op in graph.get_operations()
            if op.type == "MatMul" and op.inputs[0].shape[0] == 1]


def test_dense_fm_and_sums_take_the_user_columns_once():
    tf.random.set_seed(1)
    user, item = tf.random.normal([1, 3]), tf.random.normal([ITEMS, 4])
    mlp = MLP(7, [6, 2], use_bn=False)
    fields = [tf.random.normal([1, 2]), tf.random.normal([ITEMS, 2]), tf.random.normal([1, 2])]

    def scores(user, item, *fields):
        with shared_rows.recording():
            rows = shared_rows.broadcast(user, ITEMS)
            x = shared_rows.concat([item[:, :1], rows, item[:, 1:]], axis=1)
            spread = [shared_rows.broadcast(f, ITEMS) if f.shape[0] == 1 else f for f in fields]
            return (mlp(x, False), fm_interaction(spread),
                    shared_rows.sum_fields(spread, tf.add_n))

    def plain(user, item, *fields):
        rows = tf.repeat(user, ITEMS, axis=0)
        x = tf.concat([item[:, :1], rows, item[:, 1:]], axis=1)
        spread = [tf.repeat(f, ITEMS, axis=0) if f.shape[0] == 1 else f for f in fields]
        return mlp(x, False), fm_interaction(spread), tf.add_n(spread)

    for got, expected in zip(scores(user, item, *fields), plain(user, item, *fields)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert _batch_one_matmuls(scores, user, item, *fields) == [[1, 3]]  # the user's 3 columns
    assert not _batch_one_matmuls(plain, user, item, *fields)


def test_attention_over_a_shared_history_splits_its_first_layer():
    tf.random.set_seed(2)
    attention = TargetAttention(4, {"hidden_units": [8, 1], "use_bn": False})
    query, history = tf.random.normal([ITEMS, 4]), tf.random.normal([1, 6, 4])
    mask = tf.constant([[True] * 4 + [False] * 2])

    def shared(query, history, mask):
        with shared_rows.recording():
            sequence, rows_mask = shared_rows.broadcast((history, mask), ITEMS)
            return attention(query, sequence, rows_mask)

    def plain(query, history, mask):
        return attention(query, tf.repeat(history, ITEMS, axis=0),
                         tf.repeat(mask, ITEMS, axis=0))

    np.testing.assert_allclose(shared(query, history, mask).numpy(),
                               plain(query, history, mask).numpy(), rtol=1e-5, atol=1e-6)
    graph = tf.function(shared).get_concrete_function(query, history, mask).graph
    depths = {op.inputs[0].shape[-1] for op in graph.get_operations() if op.type == "MatMul"}
    assert 16 not in depths  # no [q, h, q - h, q * h] rows: the first layer is split


def test_shared_history_pairs_are_the_plain_rows():
    """The pairs of N targets with one history: whole (`tensor`, for an input batch norm) and
    through a kernel (`dense`), both equal to the rows built from the tiled history."""
    tf.random.set_seed(3)
    query, history = tf.random.normal([ITEMS, 4]), tf.random.normal([6, 4])
    kernel, bias = tf.random.normal([16, 3]), tf.random.normal([3])
    plain = pair_rows(query, tf.tile(history[None], [ITEMS, 1, 1]))
    pairs = SharedHistoryPairs(query, history)
    assert plain.shape == (ITEMS * 6, 16)
    np.testing.assert_array_equal(pairs.tensor().numpy(), plain.numpy())
    np.testing.assert_allclose(pairs.dense(kernel, bias).numpy(),
                               (plain @ kernel + bias).numpy(), rtol=1e-5, atol=1e-5)

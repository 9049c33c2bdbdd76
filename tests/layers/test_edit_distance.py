"""EditDistance: character Levenshtein distances, clipped and embedded."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.edit_distance import EditDistance
from easy_rec.layers.registry import get_layer_class


def test_distance_counts_characters_not_bytes():
    layer = EditDistance()
    first = tf.constant(["kitten", "abc", "", "北京大学"])
    second = tf.constant(["sitting", "abc", "ab", "北大"])
    assert layer.distance(first, second).numpy().tolist() == [3, 0, 2, 2]


def test_clipped_distance_picks_the_table_row():
    layer = EditDistance(embedding_size=3, embedding_dim=1)
    layer.table.assign([[0.0], [10.0], [20.0]])
    out = layer([tf.constant([["a"], ["abc"], ["abcdef"]]), tf.constant([["a"], ["ab"], [""]])])
    np.testing.assert_allclose(out.numpy(), [[0.0], [10.0], [20.0]])  # 0, 1, 6 -> clipped 2


def test_from_params_and_registry():
    assert get_layer_class("EditDistance") is EditDistance
    shapes = [tf.TensorShape([None, 1]), tf.TensorShape([None, 1])]
    layer = EditDistance.from_params(struct_params({"embedding_dim": 6}), shapes, "ed")
    assert layer([tf.constant([["x"]]), tf.constant([["y"]])]).shape == (1, 6)
    with pytest.raises(ValueError, match="gbk"):
        EditDistance.from_params(struct_params({"text_encoding": "gbk"}), shapes, "ed")

"""MappedDotProduct and OverlapFeature on raw strings, against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.mapped_dot_product import MappedDotProduct
from easy_rec.layers.overlap_feature import OverlapFeature
from easy_rec.layers.registry import get_layer_class

SEP = "\x1d"


def strings(*rows: str) -> tf.Tensor:
    return tf.constant([row.replace("|", SEP) for row in rows])


def test_mapped_dot_product_sums_products_of_shared_keys():
    layer = MappedDotProduct(default_value=-5.0)
    query = strings("a:1.5|b:2|c:-1", "a:1|b:1", "", "x:2|y:3")
    document = strings("b:3|c:4|d:10", "a|b|a", "a:1", "x")
    # 2 * 3 + (-1) * 4 = 2; plain keys weigh 1: a twice + b once = 3; empty query -> default;
    # x: 2 * 1 = 2
    np.testing.assert_allclose(layer([query, document]).numpy(), [[2.0], [3.0], [-5.0], [2.0]])
    assert layer.output_dim == 1


def test_mapped_dot_product_buckets_and_embeds():
    layer = MappedDotProduct(boundaries=[1.0, 2.5], embedding_dim=2)
    layer.buckets.table.assign([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    out = layer([strings("a:1", "a:2", "a:3"), strings("a", "a", "a")]).numpy()
    # f = 1, 2, 3 -> buckets 1 (1 is not below the boundary 1), 1, 2
    np.testing.assert_allclose(out, [[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    ids = MappedDotProduct(boundaries=[1.0])([strings("a:0.5"), strings("a")])
    assert ids.numpy().tolist() == [[0.0]]


METHODS = ["query_common_ratio", "title_common_ratio", "is_contain", "is_equal"]


def test_overlap_methods():
    layer = OverlapFeature(METHODS)
    query = strings("abc|efg", "abc|efg", "abc|efg", "efg|abc", "", "rty|abc")
    title = strings("abc|qwe|rty|uio", "abc|efg|rty", "abc|efg", "abc|efg", "abc", "x|rty|abc")
    expected = [[0.5, 0.25, 0.0, 0.0],
                [1.0, 2.0 / 3.0, 1.0, 0.0],
                [1.0, 1.0, 1.0, 1.0],
                [1.0, 1.0, 0.0, 0.0],      # same terms, other order: not contained
                [-1.0, -1.0, -1.0, -1.0],  # no query term: default_value
                [1.0, 2.0 / 3.0, 1.0, 0.0]]
    np.testing.assert_allclose(layer([query, title]).numpy(), expected, rtol=1e-6)


def test_overlap_buckets_each_method_in_its_own_rows():
    layer = OverlapFeature(["query_common_ratio", "is_equal"], boundaries=[0.25, 0.75],
                           embedding_dim=1)
    layer.buckets.table.assign([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    out = layer([strings("abc|efg"), strings("abc|qwe")]).numpy()
    # ratio 0.5 -> bucket 1 -> row 1; is_equal 0 -> bucket 0 -> row 3 + 0
    np.testing.assert_allclose(out, [[1.0, 10.0]])
    assert layer.output_dim == 2


def test_from_params_and_registry():
    assert get_layer_class("OverlapFeature") is OverlapFeature
    assert get_layer_class("MappedDotProduct") is MappedDotProduct
    shapes = [tf.TensorShape([None, 1]), tf.TensorShape([None, 1])]
    layer = OverlapFeature.from_params(
        struct_params({"methods": ["is_equal"], "separator": ","}), shapes, "overlap")
    out = layer([tf.constant([["a,b"]]), tf.constant([["a,b"]])])
    assert out.numpy().tolist() == [[1.0]]
    with pytest.raises(ValueError, match="common_word is not supported"):
        OverlapFeature.from_params(struct_params({"methods": ["common_word"]}), shapes, "o")
    with pytest.raises(ValueError, match="normalize_fn is not supported"):
        MappedDotProduct.from_params(struct_params({"normalize_fn": "lambda x: x"}), shapes, "m")
    dot = MappedDotProduct.from_params(struct_params({"boundaries": [0.5], "embedding_dim": 3}),
                                       shapes, "m")
    assert dot([tf.constant([["a:1"]]), tf.constant([["a"]])]).shape == (1, 3)

"""ExprFeature, LookupFeature, PassThroughFeature, RawFeature's EasyRec options (projection,
num_buckets, seq_multi_sep), SequenceFeature's sub_feature_type and hashing precision."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.features.base import build_feature
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.protos import feature_config_pb2


def feature(text: str) -> feature_config_pb2.FeatureConfig:
    return text_format.Parse(text, feature_config_pb2.FeatureConfig())


def deep_group(*names: str) -> feature_config_pb2.FeatureGroupConfig:
    return feature_config_pb2.FeatureGroupConfig(group_name="deep", feature_names=names)


def test_expr_feature_reads_numbers_and_numeric_strings():
    f = build_feature(feature('feature_name: "ok" input_names: ["age", "low", "high"] '
                              'feature_type: ExprFeature expression: "(age>=low) & (age<=high)"'))
    out = f.encode({"age": tf.constant([20, 30, 40]), "low": tf.constant(["18", "35", "30"]),
                    "high": tf.constant([25.0, 50.0, 39.0])}).dense
    assert not f.categorical and f.dense_dim == 1
    np.testing.assert_array_equal(out.numpy(), [[1.0], [0.0], [0.0]])


def test_lookup_feature_hashes_the_values_of_the_key():
    f = build_feature(feature('feature_name: "brand_clicks" input_names: ["brand", "clicks"] '
                              'feature_type: LookupFeature kv_separator: ":" hash_bucket_size: 50 '
                              'embedding_dim: 4 lookup_max_sel_elem_num: 2'))
    ids = f.encode({"brand": tf.constant(["a", "b", "c", "7"]),
                    "clicks": tf.constant(["a:3|b:1|a:5|a:9", "a:3|b:1", "a:1", "7:2"])}).ids
    expected = tf.strings.to_hash_bucket_fast(["3", "5", "1", "2"], 50).numpy().tolist()
    assert ids.to_list() == [expected[:2], [expected[2]], [], [expected[3]]]


def test_pass_through_feature_keeps_the_numbers():
    one = build_feature(feature('input_names: "age" feature_type: PassThroughFeature'))
    np.testing.assert_array_equal(one.encode({"age": tf.constant([3, 5])}).dense, [[3.0], [5.0]])
    two = build_feature(feature('input_names: "v" feature_type: PassThroughFeature '
                                'raw_input_dim: 2 separator: ","'))
    np.testing.assert_array_equal(two.encode({"v": tf.constant(["1,2", "4"])}).dense,
                                  [[1.0, 2.0], [4.0, 0.0]])


def test_raw_feature_with_embedding_dim_is_projected():
    config = feature('input_names: "x" feature_type: RawFeature embedding_dim: 2 raw_input_dim: 2 '
                     'separator: "|"')
    layer = FeatureLayer([config], [deep_group("x")])
    layer.deep_tables["x"].weights.assign([[1.0, 0.0], [0.0, 10.0]])
    out = layer({"x": tf.constant(["3|4", "0.5|0"])}).deep["deep"][0]
    np.testing.assert_allclose(out.numpy(), [[3.0, 40.0], [0.5, 0.0]])  # sum_k x_k e_k
    assert layer.is_field_embedding("x") and layer.feature_dim("x") == 2


def test_raw_feature_num_buckets_over_min_max_and_seq_multi_sep_aggregation():
    buckets = build_feature(feature('input_names: "x" feature_type: RawFeature embedding_dim: 2 '
                                    'num_buckets: 4 min_val: 0 max_val: 100'))
    # scaled to [0, 1], then cut at 0, 0.25, 0.5, 0.75
    ids = buckets.encode({"x": tf.constant([-5.0, 10.0, 30.0, 99.0])}).ids
    assert buckets.num_ids == 5 and ids.numpy().tolist() == [0, 1, 2, 4]
    maxed = build_feature(feature('input_names: "v" feature_type: RawFeature raw_input_dim: 2 '
                                  'separator: "|" seq_multi_sep: ";" combiner: "max"'))
    np.testing.assert_array_equal(maxed.encode({"v": tf.constant(["1|5;3|2", "", "4|4"])}).dense,
                                  [[3.0, 5.0], [0.0, 0.0], [4.0, 4.0]])


def test_raw_sub_feature_sequences_bucketize_or_project():
    bucketed = build_feature(feature(
        'input_names: "prices" feature_type: SequenceFeature sub_feature_type: RawFeature '
        'embedding_dim: 2 boundaries: [10, 20] separator: "|" seq_multi_sep: ";"'))
    assert bucketed.num_ids == 3
    ids = bucketed.encode({"prices": tf.constant(["5;15|25", "30"])}).ids
    assert ids.to_list() == [[[0, 1], [2]], [[2]]]
    projected = feature('input_names: "p" feature_type: SequenceFeature sub_feature_type: '
                        'RawFeature embedding_dim: 2 separator: "|" max_seq_len: 3')
    hist = feature_config_pb2.SeqAttGroupConfig(group_name="s")
    hist.seq_att_map.add(hist_seq=["p"])
    layer = FeatureLayer([projected], [], 1, None, [hist])
    layer.deep_tables["p"].weights.assign([[1.0, 2.0]])
    seq = layer({"p": tf.constant(["2|0.5", "1"])}).sequence["s"]
    np.testing.assert_allclose(seq.sequence.numpy(), [[[2, 4], [0.5, 1], [0, 0]],
                                                      [[1, 2], [0, 0], [0, 0]]])
    np.testing.assert_array_equal(seq.length.numpy(), [2, 1])


def test_float_ids_hash_with_precision_digits():
    f = build_feature(feature('input_names: "ctr" hash_bucket_size: 1000 embedding_dim: 2 '
                              'precision: 2'))
    ids = f.encode({"ctr": tf.constant([0.5, 0.123])}).ids.numpy()
    np.testing.assert_array_equal(ids, tf.strings.to_hash_bucket_fast(["0.50", "0.12"], 1000))

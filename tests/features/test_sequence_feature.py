"""SequenceFeature, sequence groups in the feature layer, target attention, and their checks."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES
from google.protobuf import text_format

from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.features.sequence_feature import SequenceFeature
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import feature_config_pb2

DIN_SAMPLE = os.path.join(SAMPLES, "din_on_movielens.config")


def _parse(text: str, message):
    return text_format.Parse(text, message)


def _layer(hist_extra: str = "", groups: str = "") -> FeatureLayer:
    features = [
        _parse('input_names: "movie_id" embedding_dim: 4 num_buckets: 10 embedding_name: "movie"',
               feature_config_pb2.FeatureConfig()),
        _parse('input_names: "hist" feature_type: SequenceFeature separator: ";" max_seq_len: 3 '
               f'embedding_dim: 4 num_buckets: 10 embedding_name: "movie" {hist_extra}',
               feature_config_pb2.FeatureConfig()),
    ]
    group = _parse(groups or 'group_name: "all" feature_names: ["movie_id"]',
                   feature_config_pb2.FeatureGroupConfig())
    seq = _parse('group_name: "seq" seq_att_map { key: "movie_id" hist_seq: "hist" }',
                 feature_config_pb2.SeqAttGroupConfig())
    return FeatureLayer(features, [group], 1, None, [seq])


def test_history_keeps_the_last_elements_and_shares_the_item_table():
    layer = _layer()
    out = layer({"movie_id": tf.constant(["5", "7"]), "hist": tf.constant(["1;2;3;4", ""])})
    seq = out.sequence["seq"]
    table = layer.deep_tables["movie"].weights.numpy()
    assert list(layer.deep_tables) == ["movie"]  # one table for the item and its history
    np.testing.assert_allclose(seq.query.numpy(), table[[5, 7]])
    np.testing.assert_allclose(seq.sequence.numpy()[0], table[[2, 3, 4]])
    np.testing.assert_array_equal(seq.mask.numpy(), [[True] * 3, [False] * 3])
    np.testing.assert_array_equal(seq.length.numpy(), [3, 0])
    assert not seq.sequence.numpy()[1].any()  # an empty history is all padding


def test_multi_value_elements_are_combined_with_the_combiner():
    layer = _layer('seq_multi_sep: "|" combiner: "mean"')
    out = layer({"movie_id": tf.constant(["1"]), "hist": tf.constant(["1|3;2"])})
    table = layer.deep_tables["movie"].weights.numpy()
    got = out.sequence["seq"].sequence.numpy()[0]
    np.testing.assert_allclose(got[0], (table[1] + table[3]) / 2, rtol=1e-6)
    np.testing.assert_allclose(got[1], table[2], rtol=1e-6)
    assert not got[2].any()


def test_pooled_in_a_feature_group_and_list_input_match_strings():
    layer = _layer('combiner: "mean"', 'group_name: "all" feature_names: ["movie_id", "hist"]')
    table = layer.deep_tables["movie"].weights.numpy()
    strings = layer({"movie_id": tf.constant(["1"]), "hist": tf.constant(["9;1;2;3"])})
    np.testing.assert_allclose(strings.deep["all"][1].numpy()[0], table[[1, 2, 3]].mean(axis=0),
                               rtol=1e-6)
    lists = layer({"movie_id": tf.constant(["1"]),
                   "hist": tf.ragged.constant([["9", "1", "2", "3"]])})
    np.testing.assert_allclose(lists.sequence["seq"].sequence.numpy(),
                               strings.sequence["seq"].sequence.numpy())


@pytest.mark.parametrize("edits, field, words", [
    ({"model_config.seq_att_groups[0].seq_att_map[0].hist_seq[0]": "movie_id"},
     "hist_seq[0]", "must be a SequenceFeature"),
    ({"model_config.seq_att_groups[0].seq_att_map[0].key[0]": "hist_genres"},
     "key[0]", "must not be a SequenceFeature"),
    ({"model_config.seq_att_groups[0].seq_att_map[1].key[0]": "nope"}, "key[0]", "not defined"),
    ({"model_config.seq_att_groups[0].group_name": "user"}, "group_name", "differ from"),
    ({"feature_config.features[10].max_seq_len": 10}, "seq_att_groups[0]", "one max_seq_len"),
    ({"model_config.multi_tower.din_towers[0].input": "other"}, "seq_att_groups",
     "needs a seq_att_groups entry named 'other'"),
    ({"feature_config.features[9].sub_value_type": "FLOAT",
      "feature_config.features[9].sub_feature_type": "IdFeature"}, "sub_value_type",
     "contradicts sub_feature_type: IdFeature"),
    ({"feature_config.features[9].sub_value_type": "STRING",
      "feature_config.features[9].sub_feature_type": "RawFeature"}, "sub_value_type",
     "elements are text"),
    ({"model_config.seq_att_groups[0].only_sequence_feature": True}, "only_sequence_feature",
     "applies to the sequence_features of a feature group"),
])
def test_sequence_group_errors_name_the_field_and_line(edits, field, words):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(DIN_SAMPLE, edits)
    message = str(info.value)
    assert field in message and words in message and "din_on_movielens.config:" in message, message


def test_unpooled_group_gives_each_sequence_padded_with_its_mask():
    features = [_parse('input_names: "movie_id" embedding_dim: 4 num_buckets: 10 '
                       'embedding_name: "movie"', feature_config_pb2.FeatureConfig()),
                _parse('input_names: "hist" feature_type: SequenceFeature separator: ";" '
                       'max_seq_len: 3 embedding_dim: 4 num_buckets: 10 embedding_name: "movie"',
                       feature_config_pb2.FeatureConfig())]
    groups = [_parse('group_name: "text" feature_names: "hist"',
                     feature_config_pb2.FeatureGroupConfig()),
              _parse('group_name: "item" feature_names: "movie_id"',
                     feature_config_pb2.FeatureGroupConfig())]
    layer = FeatureLayer(features, groups, unpooled_groups=["text"])
    out = layer({"movie_id": tf.constant(["5", "7"]), "hist": tf.constant(["1;2", "4"])})
    table = layer.deep_tables["movie"].weights.numpy()
    (value,) = out.unpooled["text"]
    assert "text" not in out.deep and layer.unpooled_dims("text") == [(4, 3)]
    np.testing.assert_allclose(value.values.numpy()[0, :2], table[[1, 2]])
    np.testing.assert_array_equal(value.mask.numpy(), [[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(value.length.numpy(), [2, 1])
    assert not value.values.numpy()[1, 1:].any()
    # the lookups count towards the embedding L2
    l2 = 0.5 * (np.square(table[[1, 2, 4]]).sum() + np.square(table[[5, 7]]).sum())
    assert float(out.embedding_l2) == pytest.approx(l2, rel=1e-5)
    with pytest.raises(ValueError, match="movie_id are not"):
        FeatureLayer(features, groups, unpooled_groups=["item"])


def _sequence(extra: str) -> SequenceFeature:
    return SequenceFeature(_parse('input_names: "hist" feature_type: SequenceFeature '
                                  f'separator: ";" embedding_dim: 2 {extra}',
                                  feature_config_pb2.FeatureConfig()))


def test_integer_sub_value_type_reads_elements_as_numbers():
    as_text = _sequence("hash_bucket_size: 1000").encode({"hist": tf.constant(["007;7"])})
    ids = as_text.ids.flat_values.numpy()
    assert ids[0] != ids[1]  # text: "007" and "7" hash apart
    as_ints = _sequence("hash_bucket_size: 1000 sub_value_type: INT32")
    ids = as_ints.encode({"hist": tf.constant(["007;7"])}).ids.flat_values.numpy()
    assert ids[0] == ids[1] == tf.strings.to_hash_bucket_fast("7", 1000).numpy()
    identity = _sequence("num_buckets: 10 sub_value_type: INT64")
    np.testing.assert_array_equal(
        identity.encode({"hist": tf.constant(["3;+4;12"])}).ids.flat_values.numpy(), [3, 4, 0])
    with pytest.raises(tf.errors.InvalidArgumentError):
        as_ints.encode({"hist": tf.constant(["7;x"])})


def test_float_sub_value_type_makes_raw_elements_projected_per_position():
    feature = _sequence('sub_value_type: FLOAT raw_input_dim: 2 seq_multi_sep: "|"')
    assert feature.raw and feature.num_ids == 2
    group = _parse('group_name: "h" feature_names: "hist"', feature_config_pb2.FeatureGroupConfig())
    layer = FeatureLayer([feature.config], [group], unpooled_groups=["h"])
    (table,) = layer.deep_tables.values()
    table.weights.assign([[1.0, 0.0], [0.0, 10.0]])
    (value,) = layer({"hist": tf.constant(["1.5|2;3"])}).unpooled["h"]
    # element 1: 1.5 e_0 + 2 e_1; element 2: 3 e_0 (sum combiner)
    np.testing.assert_allclose(value.values.numpy()[0, :2], [[1.5, 20.0], [3.0, 0.0]])

"""Feature transforms: ids, vocabularies (as SavedModel assets), tags, raw values, crosses."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.features.base import build_feature
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.protos import feature_config_pb2


def feature(text: str) -> feature_config_pb2.FeatureConfig:
    config = feature_config_pb2.FeatureConfig()
    text_format.Parse(text, config)
    return config


def group(name: str, names: list[str], kind: str = "DEEP") -> feature_config_pb2.FeatureGroupConfig:
    config = feature_config_pb2.FeatureGroupConfig()
    text_format.Parse(f'group_name: "{name}" wide_deep: {kind} ' +
                      " ".join(f'feature_names: "{n}"' for n in names), config)
    return config


def test_hash_ids_match_string_form_of_numbers():
    f = build_feature(feature('input_names: "uid" hash_bucket_size: 1000 embedding_dim: 4'))
    ints = f.encode({"uid": tf.constant([12, 7], tf.int64)}).ids
    strings = f.encode({"uid": tf.constant(["12", "7"])}).ids
    np.testing.assert_array_equal(ints.numpy(), strings.numpy())
    assert ((ints.numpy() >= 0) & (ints.numpy() < 1000)).all()


def test_identity_ids_outside_range_map_to_zero_and_are_counted():
    f = build_feature(feature('input_names: "age" num_buckets: 5 embedding_dim: 4'))
    encoded = f.encode({"age": tf.constant([1, 4, 5, -1, 3], tf.int32)})
    np.testing.assert_array_equal(encoded.ids.numpy(), [1, 4, 0, 0, 3])
    assert int(encoded.out_of_range) == 2


def test_feature_layer_counts_out_of_range_ids_only_in_training():
    layer = FeatureLayer([feature('input_names: "age" num_buckets: 3 embedding_dim: 2')],
                         [group("deep", ["age"])])
    layer({"age": tf.constant([0, 9], tf.int32)}, training=False)
    assert layer.out_of_range_ids.numpy().tolist() == [0]
    layer({"age": tf.constant([0, 9], tf.int32)}, training=True)
    assert layer.out_of_range_ids.numpy().tolist() == [1]


def test_vocab_list_with_and_without_oov_buckets():
    plain = build_feature(feature('input_names: "c" vocab_list: ["a", "b", "c"] embedding_dim: 2'))
    np.testing.assert_array_equal(plain.encode({"c": tf.constant(["b", "zz", "c"])}).ids, [1, 0, 2])
    assert plain.num_ids == 3
    oov = build_feature(feature(
        'input_names: "c" vocab_list: ["a", "b"] num_oov_buckets: 3 embedding_dim: 2'))
    ids = oov.encode({"c": tf.constant(["a", "zz"])}).ids.numpy()
    assert ids[0] == 0 and 2 <= ids[1] < 5 and oov.num_ids == 5


def test_tag_feature_combiners_and_weights():
    table_feature = feature('input_names: "tags" feature_type: TagFeature separator: "|" vocab_list: ["x", "y", "z"] '
                            'embedding_dim: 3 combiner: "mean" kv_separator: ":"')
    layer = FeatureLayer([table_feature], [group("deep", ["tags"])])
    table = layer.deep_tables["tags"].weights
    table.assign(tf.constant([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]))
    out = layer({"tags": tf.constant(["x:1|y:3", "", "z:2"])}).deep["deep"][0].numpy()
    np.testing.assert_allclose(out, [[0.25, 0.75, 0], [0, 0, 0], [0, 0, 1.0]])


def test_tag_weights_from_second_input():
    f = build_feature(feature('input_names: ["tags", "w"] feature_type: TagFeature separator: "|" hash_bucket_size: 10 '
                              'embedding_dim: 2'))
    encoded = f.encode({"tags": tf.constant(["a|b", "c"]), "w": tf.constant(["0.5|2", "3"])})
    np.testing.assert_allclose(encoded.weights.flat_values.numpy(), [0.5, 2.0, 3.0])


def test_raw_feature_normalizer_min_max_and_boundaries():
    norm = build_feature(feature('input_names: "x" feature_type: RawFeature '
                                 'normalizer_fn: "tf.math.log1p" min_val: 0 max_val: 2'))
    # EasyRec's order: min-max scaling first ((2e - 2) / 2 = e - 1), then log1p (-> 1)
    value = norm.encode({"x": tf.constant([0.0, 2 * (np.e - 1)])}).dense.numpy()
    np.testing.assert_allclose(value, [[0.0], [1.0]], rtol=1e-6)
    buckets = build_feature(feature('input_names: "x" feature_type: RawFeature embedding_dim: 2 '
                                    'boundaries: [1, 10, 100]'))
    np.testing.assert_array_equal(buckets.encode({"x": tf.constant([0.5, 10, 99, 1e9])}).ids,
                                  [0, 2, 2, 3])
    multi = build_feature(feature('input_names: "x" feature_type: RawFeature raw_input_dim: 3 '
                                  'separator: "|"'))
    np.testing.assert_allclose(multi.encode({"x": tf.constant(["1|2|3"])}).dense, [[1, 2, 3]])


def test_combo_feature_cross_is_order_sensitive_and_in_range():
    f = build_feature(feature('input_names: ["a", "b"] feature_type: ComboFeature '
                              'hash_bucket_size: 50 embedding_dim: 2'))
    ids = f.encode({"a": tf.constant(["1", "2"]), "b": tf.constant(["2", "1"])}).ids
    flat = ids.flat_values.numpy()
    assert ids.row_lengths().numpy().tolist() == [1, 1]
    assert flat[0] != flat[1] and ((flat >= 0) & (flat < 50)).all()
    joined = build_feature(feature('input_names: ["a", "b"] feature_type: ComboFeature '
                                   'hash_bucket_size: 50 embedding_dim: 2 combo_join_sep: "_"'))
    expected = tf.strings.to_hash_bucket_fast(["1_2"], 50).numpy()
    np.testing.assert_array_equal(
        joined.encode({"a": tf.constant(["1"]), "b": tf.constant(["2"])}).ids, expected)


def test_shared_embedding_name_uses_one_table():
    configs = [feature('input_names: "a" embedding_name: "shared" hash_bucket_size: 10 embedding_dim: 2'),
               feature('input_names: "b" embedding_name: "shared" hash_bucket_size: 10 embedding_dim: 2')]
    layer = FeatureLayer(configs, [group("deep", ["a", "b"])])
    assert list(layer.deep_tables) == ["shared"]
    out = layer({"a": tf.constant(["k"]), "b": tf.constant(["k"])}).deep["deep"]
    np.testing.assert_array_equal(out[0].numpy(), out[1].numpy())


def test_deep_and_wide_tables_use_the_feature_initializer_else_easyrec_default():
    configs = [feature('input_names: "a" hash_bucket_size: 10 embedding_dim: 4 '
                       'initializer { constant_initializer { consts: 0.5 } }'),
               feature('input_names: "b" hash_bucket_size: 1000 embedding_dim: 16')]
    layer = FeatureLayer(configs, [group("wide", ["a", "b"], "WIDE"), group("deep", ["a", "b"])],
                         wide_output_dim=4)
    for table in (layer.deep_tables["a"], layer.wide_tables["a"]):
        assert (table.weights.numpy() == 0.5).all()
    # unset initializer: truncated normal with stddev 0.01 / sqrt(dim)
    assert np.abs(layer.deep_tables["b"].weights.numpy()).max() <= 2 * 0.01 / 4
    assert np.abs(layer.wide_tables["b"].weights.numpy()).max() <= 2 * 0.01 / 2


def test_embedding_gradients_are_sparse():
    layer = FeatureLayer([feature('input_names: "a" hash_bucket_size: 100000 embedding_dim: 4'),
                          feature('input_names: "t" feature_type: TagFeature hash_bucket_size: 1000 embedding_dim: 4')],
                         [group("deep", ["a", "t"])])
    with tf.GradientTape() as tape:
        out = layer({"a": tf.constant(["x", "y"]), "t": tf.constant(["p|q", "r"])})
        loss = tf.reduce_sum(out.concat("deep"))
    grads = tape.gradient(loss, [t.weights for t in layer.embedding_tables()])
    assert all(isinstance(g, tf.IndexedSlices) for g in grads)


SERVE_VOCAB = r"""
import sys, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
print(m.signatures["serving_default"](c=tf.constant(["b", "c", "zz"]))["ids"].numpy().tolist())
"""


@pytest.mark.slow
def test_vocab_file_is_copied_as_a_savedmodel_asset(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\nc\n")
    f = build_feature(feature(f'input_names: "c" vocab_file: "{vocab}" embedding_dim: 2'))
    assert f.num_ids == 3

    class Wrapper(tf.Module):
        def __init__(self):
            super().__init__()
            self.feature = f

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="c")])
        def serve(self, c):
            return {"ids": self.feature.encode({"c": c}).ids}

    wrapper = Wrapper()
    export = tmp_path / "export"
    tf.saved_model.save(wrapper, str(export), signatures={"serving_default": wrapper.serve})
    assert os.listdir(export / "assets") == ["vocab.txt"]
    vocab.unlink()  # serving must read the asset copy, not the original file
    out = subprocess.run([sys.executable, "-c", SERVE_VOCAB, str(export)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[1, 2, 0]"

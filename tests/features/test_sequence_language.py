"""sequence_combiner (attention, text_cnn) and a feature group's sequence_features (target
attention whose fields join the group), against hand-computed values."""
from __future__ import annotations

import glob

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from layers.layer_helpers import randomize

from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.protos import feature_config_pb2

HISTORY = ('input_names: "hist" feature_type: SequenceFeature separator: ";" max_seq_len: 4 '
           'embedding_dim: 2 num_buckets: 5 embedding_name: "item" ')
ITEM = 'input_names: "item" embedding_dim: 2 num_buckets: 5 embedding_name: "item" '
TABLE = np.array([[0, 0], [1, 0], [0, 1], [2, 2], [1, -1]], np.float32)


def parse(text: str, message):
    return text_format.Parse(text, message)


def layer_with(features: list[str], group: str) -> FeatureLayer:
    configs = [parse(t, feature_config_pb2.FeatureConfig()) for t in features]
    layer = FeatureLayer(configs, [parse(group, feature_config_pb2.FeatureGroupConfig())])
    layer.deep_tables["item"].weights.assign(TABLE)
    return layer


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def test_attention_combiner_weights_the_real_elements():
    layer = layer_with([HISTORY + "sequence_combiner { attention {} }"],
                       'group_name: "g" feature_names: "hist"')
    combiner = layer.sequence_combiners["hist"]
    combiner.score.kernel.assign([[1.0], [2.0]])  # score_t = e_t . (1, 2)
    out = layer({"hist": tf.constant(["1;3", "4"])}).deep["g"][0].numpy()
    rows = TABLE[[1, 3]]
    expected = softmax(rows @ [1.0, 2.0]) @ rows
    np.testing.assert_allclose(out, [expected, TABLE[4]], rtol=1e-5)
    assert layer.feature_dim("hist") == 2 and not layer.is_field_embedding("hist")


def test_text_cnn_combiner_runs_kims_cnn_over_the_padded_history():
    layer = layer_with([HISTORY + 'sequence_combiner { text_cnn { filter_sizes: [1, 2] '
                        'num_filters: [3, 2] } }'], 'group_name: "g" feature_names: "hist"')
    cnn = layer.sequence_combiners["hist"].text_cnn
    randomize(cnn)
    out = layer({"hist": tf.constant(["1;3;2", ""])})
    padded = np.zeros((2, 4, 2), np.float32)
    padded[0, :3] = TABLE[[1, 3, 2]]
    np.testing.assert_allclose(out.deep["g"][0].numpy(), cnn(tf.constant(padded)).numpy(),
                               rtol=1e-5)
    assert layer.group_dim("g") == 5
    # embedding_regularization covers the history's embeddings, not the CNN's output
    np.testing.assert_allclose(out.embedding_l2.numpy(), 0.5 * (TABLE[[1, 3, 2]] ** 2).sum())


def attention_layer(extra: str = "", item: str = ITEM, hist: str = HISTORY) -> FeatureLayer:
    """Group 'user' (feature 'age') with a sequence_features entry over item -> hist; the
    scoring DNN is a single linear layer (seq_dnn [1])."""
    return layer_with([item, hist, 'input_names: "age" embedding_dim: 3 num_buckets: 9'],
                      'group_name: "user" feature_names: "age" sequence_features { '
                      f'group_name: "s" seq_dnn {{ hidden_units: [1] }} {extra} '
                      'seq_att_map { key: "item" hist_seq: "hist" } }')


def set_dot_product_score(layer: FeatureLayer, width: int) -> None:
    """Scores s_t = q . h_t: the linear layer over [q, h, q - h, q * h] sums the q * h part."""
    score = layer.group_attention["user"][0].attention.score
    score.kernel.assign(np.concatenate([np.zeros((3 * width, 1)), np.ones((width, 1))]))
    score.bias.assign([0.0])


def test_sequence_features_pool_the_history_by_attention_to_the_key():
    layer = attention_layer()
    set_dot_product_score(layer, 2)
    out = layer({"age": tf.constant([1]), "item": tf.constant([3]),
                 "hist": tf.constant(["1;4;2"])})
    fields = out.deep["user"]
    assert [f.shape[-1] for f in fields] == layer.field_dims("user") == [3, 2, 2]
    rows, key = TABLE[[1, 4, 2]], TABLE[3]
    np.testing.assert_allclose(fields[1].numpy()[0], softmax(rows @ key) @ rows, rtol=1e-5)
    np.testing.assert_allclose(fields[2].numpy()[0], key)  # need_key_feature (default)
    assert layer.group_dim("user") == 7


def test_need_key_feature_false_and_aux_histories_share_the_weights():
    aux = ('input_names: "aux" feature_type: SequenceFeature separator: ";" max_seq_len: 4 '
           'embedding_dim: 1 num_buckets: 5')
    configs = [parse(t, feature_config_pb2.FeatureConfig()) for t in (ITEM, HISTORY, aux)]
    group = parse('group_name: "user" feature_names: "item" sequence_features { '
                  'group_name: "s" need_key_feature: false seq_dnn { hidden_units: [1] } '
                  'seq_att_map { key: "item" hist_seq: "hist" aux_hist_seq: "aux" } }',
                  feature_config_pb2.FeatureGroupConfig())
    layer = FeatureLayer(configs, [group])
    layer.deep_tables["item"].weights.assign(TABLE)
    layer.deep_tables["aux"].weights.assign([[0.0], [10.0], [20.0], [30.0], [40.0]])
    set_dot_product_score(layer, 2)
    fields = layer({"item": tf.constant([3]), "hist": tf.constant(["1;4"]),
                    "aux": tf.constant(["2;3"])}).deep["user"]
    weights = softmax(TABLE[[1, 4]] @ TABLE[3])
    assert layer.field_dims("user") == [2, 2, 1]
    np.testing.assert_allclose(fields[2].numpy()[0], weights @ [20.0, 30.0], rtol=1e-5)


def test_only_sequence_feature_leaves_the_key_out():
    layer = attention_layer("only_sequence_feature: true")
    set_dot_product_score(layer, 2)
    fields = layer({"age": tf.constant([1]), "item": tf.constant([3]),
                    "hist": tf.constant(["1;4;2"])}).deep["user"]
    rows = TABLE[[1, 4, 2]]
    assert layer.field_dims("user") == [3, 2]  # age, pooled history; no key
    np.testing.assert_allclose(fields[1].numpy()[0], softmax(rows @ TABLE[3]) @ rows, rtol=1e-5)


def test_self_attention_seq_model_mixes_the_history_before_the_target_attention():
    layer = attention_layer('seq_model: "self_attention"')
    set_dot_product_score(layer, 2)
    mixer = layer.group_attention["user"][0].self_attention
    for dense in (mixer.query, mixer.key, mixer.value):
        dense.kernel.assign(np.eye(2))
    fields = layer({"age": tf.constant([1, 1]), "item": tf.constant([3, 3]),
                    "hist": tf.constant(["1;4;2", "4"])}).deep["user"]
    rows, key = TABLE[[1, 4, 2]], TABLE[3]
    mixed = rows + np.stack([softmax(r @ rows.T / np.sqrt(2)) for r in rows]) @ rows
    np.testing.assert_allclose(fields[1].numpy()[0], softmax(mixed @ key) @ mixed, rtol=1e-5)
    # a one-element history attends to itself only: h' = 2 h (padding is not attended to)
    np.testing.assert_allclose(fields[1].numpy()[1], 2 * TABLE[4], rtol=1e-5)
    np.testing.assert_allclose(fields[2].numpy()[0], key)


def test_allow_key_transform_pads_a_narrow_key_or_maps_both_with_transform_dnn():
    narrow_key = 'input_names: "key" embedding_dim: 1 num_buckets: 5'

    def layer(options: str) -> FeatureLayer:
        return layer_with([narrow_key, HISTORY], 'group_name: "user" feature_names: "key" '
                          f'sequence_features {{ group_name: "s" {options} '
                          'seq_att_map { key: "key" hist_seq: "hist" } }')

    padded = layer("allow_key_transform: true")
    padded.deep_tables["key"].weights.assign([[7.0]] * 5)
    fields = padded({"key": tf.constant([1]), "hist": tf.constant(["1;2"])}).deep["user"]
    np.testing.assert_allclose(fields[-1].numpy(), [[7.0, 0.0]])  # zero-padded to 2
    attention = layer("allow_key_transform: true transform_dnn: true").group_attention["user"][0]
    assert attention.key_transform is not None and attention.field_dims == [2, 2]


def test_tf_summary_writes_histograms_of_keys_and_histories(tmp_path):
    layer = attention_layer("tf_summary: true")
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=0), tf.summary.record_if(True):
        layer({"age": tf.constant([1]), "item": tf.constant([3]), "hist": tf.constant(["1;4"])})
    writer.flush()
    tags = set()
    for path in glob.glob(str(tmp_path / "*")):
        for record in tf.data.TFRecordDataset(path):
            tags |= {v.tag for v in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
    assert {"sequence_feature/user/s/item", "sequence_feature/user/s/hist",
            "sequence_feature/user/s/length"} <= tags

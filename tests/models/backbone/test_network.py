"""The backbone network on hand-made feature values: input layers, merging, snippets, repeat,
recurrent, sequential layers, packages, losses and outputs."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput, SequenceGroup
from easy_rec.layers.cross import Cross
from easy_rec.models.backbone.network import Backbone
from easy_rec.models.backbone.spec import BackboneError
from easy_rec.protos import backbone_pb2, feature_config_pb2

DIM = 4


def _feature_layer() -> FeatureLayer:
    features = [text_format.Parse(f'input_names: "{n}" embedding_dim: {DIM} num_buckets: 10',
                                  feature_config_pb2.FeatureConfig()) for n in "abc"]
    features.append(text_format.Parse(
        'input_names: "hist" feature_type: SequenceFeature embedding_dim: 4 num_buckets: 10 '
        'max_seq_len: 3', feature_config_pb2.FeatureConfig()))
    groups = [text_format.Parse(text, feature_config_pb2.FeatureGroupConfig()) for text in (
        'group_name: "deep" feature_names: ["a", "b", "c"] wide_deep: DEEP',
        'group_name: "wide" feature_names: ["a", "b"] wide_deep: WIDE')]
    seq = text_format.Parse('group_name: "seq" seq_att_map { key: "a" hist_seq: "hist" }',
                            feature_config_pb2.SeqAttGroupConfig())
    return FeatureLayer(features, groups, 1, None, [seq])


FEATURE_LAYER = None


def feature_layer() -> FeatureLayer:
    global FEATURE_LAYER
    FEATURE_LAYER = FEATURE_LAYER or _feature_layer()
    return FEATURE_LAYER


def values(batch: int = 3) -> FeatureLayerOutput:
    rng = np.random.default_rng(0)
    deep = [tf.constant(rng.normal(size=[batch, DIM]), tf.float32) for _ in range(3)]
    wide = [tf.constant(rng.normal(size=[batch, 1]), tf.float32) for _ in range(2)]
    sequence = SequenceGroup(query=deep[0], sequence=tf.constant(rng.normal(size=[batch, 3, DIM]),
                                                                 tf.float32),
                             mask=tf.sequence_mask([1, 2, 3][:batch], 3),
                             length=tf.constant([1, 2, 3][:batch]))
    return FeatureLayerOutput(deep={"deep": deep}, wide={"wide": wide},
                              sequence={"seq": sequence}, embedding_l2=tf.constant(0.0))


def build(text: str) -> Backbone:
    return Backbone(text_format.Parse(text, backbone_pb2.BackboneTower()), feature_layer())


def run(text: str, training: bool = False):
    backbone = build(text)
    return backbone, *backbone(values(), training)


def test_input_layer_outputs_and_implicit_group_blocks():
    features = values()
    concat = tf.concat(features.deep["deep"], axis=1).numpy()
    _, out, losses = run('''
        blocks { name: "flat" inputs { feature_group_name: "deep" } }
        blocks { name: "list" inputs { feature_group_name: "deep" }
                 input_layer { only_output_feature_list: true } }
        blocks { name: "cube" inputs { feature_group_name: "deep" }
                 input_layer { only_output_3d_tensor: true } }
        blocks { name: "pair" inputs { feature_group_name: "deep" }
                 input_layer { output_2d_tensor_and_feature_list: true } }
        blocks { name: "w" inputs { feature_group_name: "wide" } input_layer {} }
        blocks { name: "seq_in" inputs { feature_group_name: "seq" }
                 input_layer { output_seq_and_normal_feature: true } }
        output_blocks: ["flat", "list", "cube", "pair", "w", "seq_in"]''')
    flat, listed, cube, pair, wide, seq = out
    np.testing.assert_allclose(flat.numpy(), concat)
    assert len(listed) == 3 and np.allclose(listed[1].numpy(), features.deep["deep"][1].numpy())
    assert cube.shape == (3, 3, DIM) and np.allclose(cube[:, 2].numpy(), concat[:, 8:])
    assert np.allclose(pair[0].numpy(), concat) and len(pair[1]) == 3
    assert wide.shape == (3, 2)
    assert seq[0].shape == (3, 3, DIM) and seq[1].numpy().tolist() == [1, 2, 3]
    assert np.allclose(seq[2].numpy(), features.deep["deep"][0].numpy()) and losses == {}


def test_merging_slices_and_snippets():
    features = values()
    a, b, c = (f.numpy() for f in features.deep["deep"])
    _, out, _ = run('''
        blocks { name: "pair" inputs { feature_group_name: "deep" }
                 input_layer { output_2d_tensor_and_feature_list: true } }
        blocks { name: "second" inputs { block_name: "pair" input_slice: "[1][1]" } }
        blocks { name: "cat" inputs { block_name: "second" } inputs { block_name: "second"
                 input_fn: "lambda x: x * 2.0" } extra_input_fn: "lambda x: x[:, :2]" }
        blocks { name: "mixed" inputs { block_name: "second" } inputs { block_name: "pair"
                 input_slice: "[1]" } }
        blocks { name: "stacked" inputs { block_name: "second" } inputs { block_name: "second" }
                 input_concat_axis: 0 }
        blocks { name: "ignored" inputs { block_name: "cat" ignore_input: true }
                 inputs { block_name: "second" } }
        output_blocks: ["cat", "mixed", "stacked", "ignored"]''')
    cat, mixed, stacked, ignored = out
    np.testing.assert_allclose(cat.numpy(), b[:, :2])  # [b, 2b] cut to its first 2 columns
    assert len(mixed) == 4 and np.allclose(mixed[0].numpy(), b) and np.allclose(mixed[3], c)
    assert stacked.shape == (6, DIM)
    np.testing.assert_allclose(ignored.numpy(), b)
    assert a.shape == (3, DIM)


def test_sequential_layers_lambda_and_keras_names():
    features = values()
    backbone, out, _ = run('''
        blocks { name: "mlp" inputs { feature_group_name: "deep" }
          layers { keras_layer { class_name: "Dense" st_params { fields { key: "units"
                   value { number_value: 3 } } fields { key: "use_bias" value { bool_value: false } } } } }
          layers { lambda { expression: "lambda x: tf.nn.relu(x)" } }
          layers { keras_layer { class_name: "Dropout" st_params { fields { key: "rate"
                   value { number_value: 0.5 } } } } } }''')
    dense = backbone.main.blocks["mlp"].components["mlp_l0"]
    expected = np.maximum(tf.concat(features.deep["deep"], 1).numpy() @ dense.kernel.numpy(), 0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)


def test_repeat_makes_copies_with_their_own_weights():
    backbone, out, _ = run('''
        blocks { name: "heads" inputs { feature_group_name: "deep" }
          repeat { num_repeat: 2 output_concat_axis: 1 input_fn: "lambda x, i: x * (i + 1.0)"
            keras_layer { class_name: "Dense" st_params { fields { key: "units"
                          value { number_value: 2 } } } } } }
        blocks { name: "sliced" inputs { feature_group_name: "deep" input_fn: "lambda x: [x, x]" }
          repeat { num_repeat: 2 input_slice: "[i]"
            keras_layer { class_name: "Dense" st_params { fields { key: "units"
                          value { number_value: 1 } } } } } }
        output_blocks: ["heads", "sliced"]''')
    heads, sliced = out
    components = backbone.main.blocks["heads"].components
    x = tf.concat(values().deep["deep"], 1)
    expected = tf.concat([components["heads_0"](x), components["heads_1"](2.0 * x)], axis=1)
    np.testing.assert_allclose(heads.numpy(), expected.numpy(), rtol=1e-5)
    assert components["heads_0"].kernel is not components["heads_1"].kernel
    assert isinstance(sliced, list) and len(sliced) == 2 and sliced[0].shape == (3, 1)


def test_recurrent_cross_keeps_x0_fixed():
    backbone, out, _ = run('''
        blocks { name: "dcn" inputs { feature_group_name: "deep" input_fn: "lambda x: [x, x]" }
          recurrent { num_steps: 3 fixed_input_index: 0 keras_layer { class_name: "Cross" } } }''')
    layers = backbone.main.blocks["dcn"].components
    assert all(isinstance(layers[f"dcn_{i}"], Cross) for i in range(3))
    x0 = tf.concat(values().deep["deep"], 1)
    x = x0
    for i in range(3):
        x = layers[f"dcn_{i}"]([x0, x])
    np.testing.assert_allclose(out.numpy(), x.numpy(), rtol=1e-5)


def test_packages_share_weights_take_inputs_and_reset_their_input_layer():
    backbone, out, losses = run('''
        packages { name: "tower"
          blocks { name: "in" inputs { feature_group_name: "deep" }
                   input_layer { dropout_rate: 0.5 } }
          blocks { name: "enc" inputs { block_name: "in" }
                   keras_layer { class_name: "Dense" st_params { fields { key: "units"
                                 value { number_value: 3 } } } } } }
        packages { name: "scale"
          blocks { name: "twice" inputs { use_package_input: true }
                   lambda { expression: "lambda x: x * 2.0" } } }
        blocks { name: "views" inputs { package_name: "tower" } inputs { package_name: "tower" }
                 merge_inputs_into_list: true
                 keras_layer { class_name: "AuxiliaryLoss" st_params { fields { key: "loss_type"
                               value { string_value: "l2_loss" } } } } }
        blocks { name: "clean" inputs { package_name: "tower" reset_input {} } }
        blocks { name: "doubled" inputs { package_name: "scale" package_input: "clean" } }
        output_blocks: ["views", "clean", "doubled"]''', training=True)
    views, clean, doubled = out
    assert len(backbone.packages["tower"].blocks) == 1  # one set of weights for every call
    assert float(views) > 0.0 and list(losses) == ["views_l2_loss"]  # two dropout views differ
    np.testing.assert_allclose(doubled.numpy(), 2.0 * clean.numpy(), rtol=1e-6)
    _, (eval_views, _, _), eval_losses = backbone, *backbone(values(), False)
    assert float(eval_views) == pytest.approx(0.0) and "views_l2_loss" in eval_losses


def test_top_mlp_and_shapes():
    backbone = build('''
        blocks { name: "a" inputs { feature_group_name: "deep" } }
        blocks { name: "b" inputs { feature_group_name: "wide" } }
        top_mlp { hidden_units: [5] }''')
    assert backbone.output_dim == 5
    output, _ = backbone(values(), training=False)
    assert output.shape == (3, 5)


@pytest.mark.parametrize("text, field, reason", [
    ('blocks { name: "x" inputs { feature_group_name: "deep" } keras_layer { class_name: "Nope" } }',
     "model_config.backbone.blocks[0].keras_layer.class_name", "'Nope' is not supported"),
    ('blocks { name: "x" inputs { feature_group_name: "deep" } keras_layer { class_name: "Dense" } }',
     "model_config.backbone.blocks[0].keras_layer.units", "parameter 'units' is required"),
    ('blocks { name: "x" inputs { feature_group_name: "deep" } keras_layer { class_name: "Dense" '
     'st_params { fields { key: "units" value { number_value: 2 } } fields { key: "bogus" '
     'value { number_value: 1 } } } } }',
     "model_config.backbone.blocks[0].keras_layer.st_params.bogus", "unknown parameter 'bogus'"),
    ('blocks { name: "x" inputs { feature_group_name: "deep" } keras_layer { class_name: "MLP" '
     'mlp { hidden_units: [2, 1] activation: "nope" } } }',
     "model_config.backbone.blocks[0].keras_layer", "MLP on input [None, 12]: unknown activation"),
    ('blocks { name: "x" inputs { feature_group_name: "deep" } keras_layer { class_name: "DIN" '
     'din {} } }', "model_config.backbone.blocks[0].keras_layer", "DIN takes (sequence"),
    ('blocks { name: "x" inputs { feature_group_name: "deep" } '
     'input_layer { output_seq_and_normal_feature: true } }',
     "model_config.backbone.blocks[0]", "needs a sequence group"),
])
def test_build_errors_name_the_field(text, field, reason):
    with pytest.raises(BackboneError) as error:
        build(text)
    assert error.value.field == field
    assert reason in error.value.reason


def test_a_feature_group_read_as_sequence_pairs_its_histories_with_its_targets():
    features = [text_format.Parse(text, feature_config_pb2.FeatureConfig()) for text in (
        'input_names: "a" embedding_dim: 2 num_buckets: 5 embedding_name: "t"',
        'input_names: "hist" feature_type: SequenceFeature separator: ";" max_seq_len: 3 '
        'embedding_dim: 2 num_buckets: 5 embedding_name: "t"')]
    group = text_format.Parse('group_name: "pair" feature_names: ["hist", "a"]',
                              feature_config_pb2.FeatureGroupConfig())
    layer = FeatureLayer(features, [group], paired_groups=["pair"])
    assert layer.sequence_groups == {"pair": (["a"], ["hist"])} and "pair" not in layer.groups
    table = np.arange(10, dtype=np.float32).reshape(5, 2)
    layer.deep_tables["t"].weights.assign(table)
    backbone = Backbone(text_format.Parse('''
        blocks { name: "s" inputs { feature_group_name: "pair" }
                 input_layer { output_seq_and_normal_feature: true } }
        blocks { name: "din" inputs { block_name: "s" }
                 keras_layer { class_name: "DIN" din { attention_dnn { hidden_units: [1] } } } }
        output_blocks: ["s", "din"]''', backbone_pb2.BackboneTower()), layer)
    (sequence, length, target), din = backbone(layer({"a": tf.constant([3]),
                                                      "hist": tf.constant(["1;2"])}))[0]
    np.testing.assert_allclose(sequence.numpy()[0], [table[1], table[2], [0, 0]])
    assert length.numpy().tolist() == [2] and np.allclose(target.numpy(), table[[3]])
    assert din.shape == (1, 4)  # pooled history, then the target (need_target_feature)
    np.testing.assert_allclose(din.numpy()[0, 2:], table[3])


def test_raw_input_and_embedding_layer_read_the_features_before_embedding():
    features = [text_format.Parse(text, feature_config_pb2.FeatureConfig()) for text in (
        'input_names: "a" embedding_dim: 2 num_buckets: 3',
        'input_names: "tags" feature_type: TagFeature separator: "|" embedding_dim: 2 '
        'num_buckets: 4',
        'input_names: "x" feature_type: RawFeature')]
    groups = [text_format.Parse(text, feature_config_pb2.FeatureGroupConfig()) for text in (
        'group_name: "ids" feature_names: ["a", "tags"]',
        'group_name: "mixed" feature_names: ["a", "x"]')]
    layer = FeatureLayer(features, groups)
    backbone = Backbone(text_format.Parse('''
        blocks { name: "raw" inputs { feature_group_name: "mixed" } raw_input {} }
        blocks { name: "emb" inputs { feature_group_name: "ids" }
                 embedding_layer { embedding_dim: 2 combiner: "sum" } }
        output_blocks: ["raw", "emb"]''', backbone_pb2.BackboneTower()), layer)
    table = backbone.main.inputs["emb"].embedding.embeddings
    assert table.shape == [7, 2]  # 3 ids of a, then 4 of tags
    table.assign(np.arange(14, dtype=np.float32).reshape(7, 2))
    (ids, x), emb = backbone(layer({"a": tf.constant([2, 0]), "tags": tf.constant(["1|3", ""]),
                                    "x": tf.constant([0.5, 2.0])}))[0]
    assert ids.numpy().tolist() == [2, 0] and x.numpy().tolist() == [[0.5], [2.0]]
    # row 0: a=2 -> row 2 = [4, 5]; tags 1, 3 -> rows 4, 6 = [8, 9] + [12, 13]
    # row 1: a=0 -> row 0 = [0, 1]; no tags -> 0
    assert emb.numpy().tolist() == [[4, 5, 20, 22], [0, 1, 0, 0]]
    with pytest.raises(BackboneError, match="have dense values"):
        Backbone(text_format.Parse('''blocks { name: "e" inputs { feature_group_name: "mixed" }
            embedding_layer { embedding_dim: 2 } }''', backbone_pb2.BackboneTower()), layer)
    ragged = Backbone(text_format.Parse('''blocks { name: "r" inputs {
        feature_group_name: "ids" } raw_input {} }''', backbone_pb2.BackboneTower()), layer)
    with pytest.raises(BackboneError, match="'tags' has several values per example"):
        ragged(layer({"a": tf.constant([1]), "tags": tf.constant(["1"]), "x": tf.constant([1.0])}))


def test_raw_input_gives_the_strings_of_text_features():
    features = [text_format.Parse(text, feature_config_pb2.FeatureConfig()) for text in (
        'input_names: "title" feature_type: PassThroughFeature',
        'input_names: "x" feature_type: PassThroughFeature')]
    groups = [text_format.Parse('group_name: "text" feature_names: ["title", "x"]',
                                feature_config_pb2.FeatureGroupConfig())]
    layer = FeatureLayer(features, groups, string_columns={"title"})
    assert layer.text_groups == {"text"}
    backbone = Backbone(text_format.Parse('''
        blocks { name: "raw" inputs { feature_group_name: "text" } raw_input {} }
        blocks { name: "edit" inputs { block_name: "raw" input_fn: "lambda x: [x[0], x[0]]" }
                 keras_layer { class_name: "EditDistance" } }
        output_blocks: ["raw", "edit"]''', backbone_pb2.BackboneTower()), layer)
    out = layer({"title": tf.constant(["Heat", "Up"]), "x": tf.constant([1.5, 2.0])})
    assert "text" not in out.deep  # strings have no embedding or dense value
    (title, x), edit = backbone(out)[0]
    assert title.numpy().tolist() == [b"Heat", b"Up"] and x.numpy().tolist() == [[1.5], [2.0]]
    assert edit.shape == [2, 4]  # distance 0 of each title to itself: the same row
    np.testing.assert_allclose(edit.numpy()[0], edit.numpy()[1])

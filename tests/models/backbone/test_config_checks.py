"""Backbone configs are checked with --check_config_only: errors name file, line and field."""
from __future__ import annotations

import glob
import os

import pytest
from conftest import SAMPLES

from easy_rec.config.errors import ConfigError
from easy_rec.pipeline import parse_pipeline_config_text

BACKBONE_SAMPLES = os.path.join(SAMPLES, "backbone")


def sample_text(name: str) -> str:
    with open(os.path.join(BACKBONE_SAMPLES, f"{name}_backbone_on_movielens.config"),
              encoding="utf-8") as f:
        return f.read()


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, path="bb.config")
    return info.value


def line_of(needle: str, text: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(BACKBONE_SAMPLES, "*.config"))))
def test_backbone_samples_pass(path):
    with open(path, encoding="utf-8") as f:
        parse_pipeline_config_text(f.read(), path=path)


@pytest.mark.parametrize("sample, old, new, field, reason", [
    ("deepfm", 'class_name: "FM"', 'class_name: "Conv2D"',
     "model_config.backbone.blocks[2].keras_layer.class_name",
     "class_name 'Conv2D' is not supported: no easy_rec component has that name"),
    ("deepfm", 'input_slice: "[1]"', 'input_slice: "[1].numpy()"',
     "model_config.backbone.blocks[2].inputs[0].input_slice", "must be a sequence of [...]"),
    ("deepfm", '"lambda x: tf.reduce_sum(x, axis=1, keepdims=True)"',
     '"lambda x: open(\'/etc/passwd\')"',
     "model_config.backbone.blocks[4].inputs[0].input_fn", "call of 'open' is not accepted"),
    ("deepfm", 'block_name: "fm"', 'block_name: "fn"',
     "model_config.backbone.blocks[4].inputs[1].block_name", "'fn' is not a block"),
    ("dcn", "num_steps: 3", "num_steps: 0",
     "model_config.backbone.blocks[1].recurrent.num_steps", "num_steps must be >= 1"),
    ("dcn", "top_mlp { hidden_units: [64, 32, 16] }", "top_mlp { }",
     "model_config.backbone.top_mlp.hidden_units", "top_mlp needs hidden_units"),
    ("dssm", "item_tower_idx_in_output: 1", "item_tower_idx_in_output: 2",
     "model_config.model_params.item_tower_idx_in_output", "which has 2 output_blocks"),
    ("components", "embedding_layer { embedding_dim: 8 }",
     'embedding_layer { embedding_dim: 8 combiner: "sqrtn" }',
     "model_config.backbone.blocks[7].embedding_layer.combiner", "combiner must be one of"),
    ("dssm", "simi_func: COSINE", 'simi_func: COSINE outputs: "user_tower"',
     "model_config.model_params.outputs", "EasyRec's MatchModel fails on extra outputs"),
    ("text_match", "raw_input {}", "input_layer {}", "model_config.backbone.blocks[0].input_layer",
     "holds text features (raw_genres, raw_title: PassThroughFeatures over STRING columns), "
     "which only a raw_input block reads, not input_layer"),
])
def test_backbone_errors_name_line_and_field(sample, old, new, field, reason):
    text = sample_text(sample).replace(old, new)
    error = config_error(text)
    assert error.field == field
    assert reason in error.reason
    assert error.line == line_of(new, text) and error.path == "bb.config"


def test_sequence_outputs_of_feature_groups_need_sequence_features_of_one_length():
    text = sample_text("fibinet").replace("input_layer { only_output_feature_list: true }",
                                          "input_layer { output_seq_and_normal_feature: true }")
    error = config_error(text)
    assert error.field == "model_config.backbone.blocks[0].input_layer.output_seq_and_normal_feature"
    assert "feature group 'all' as the sequence; it has none" in error.reason
    din = sample_text("din")
    error = config_error(din.replace("max_seq_len: 20", "max_seq_len: 9", 1))
    assert "need one max_seq_len" in error.reason
    plain = din.replace('inputs { feature_group_name: "normal" }',
                        'inputs { feature_group_name: "history" }')
    error = config_error(plain)
    assert error.field == "model_config.backbone.blocks[1].input_layer.output_seq_and_normal_feature"
    assert "as an ordinary group by model_config.backbone.blocks[0]" in error.reason


def test_model_classes_that_do_not_read_a_backbone_refuse_it():
    text = sample_text("dcn").replace('model_class: "RankModel"', 'model_class: "DeepFM"')
    text = text.replace("model_params { l2_regularization: 1e-4 }",
                        "deepfm { dnn { hidden_units: [8] } }")
    error = config_error(text)
    assert error.field == "model_config.backbone"
    assert "backbone is not supported with model_class DeepFM: only" in error.reason
    assert "DBMTL" in error.reason and "RankModel" in error.reason


def test_backbone_models_need_a_backbone():
    text = sample_text("dcn")
    start, end = text.index("  backbone {"), text.index("  model_params")
    error = config_error(text[:start] + text[end:])
    assert error.field == "model_config.model_params"
    assert "builds its network from model_config.backbone" in error.reason


def test_text_features_need_a_backbone_raw_input():
    text = sample_text("text_match")
    start, end = text.index("  backbone {"), text.index("  embedding_regularization")
    text = (text[:start] + "  dnn { dnn { hidden_units: [8] } }\n" + text[end:]).replace(
        'model_class: "RankModel"', 'model_class: "DNN"')
    error = config_error(text)
    assert error.field == "model_config.feature_groups[1]"
    assert "only a backbone raw_input block reads" in error.reason

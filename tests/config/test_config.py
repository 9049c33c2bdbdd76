"""Pipeline config: parsing, error locations, --edit_config_json edits and validation.

Most tests use throw-away models registered here ('FakeTestModel' uses the deepfm block), with
the model zoo's import switched off, so they run without TensorFlow.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from easy_rec.config.edit import apply_edits
from easy_rec.config.errors import ConfigError
from easy_rec.config.features import feature_configs, feature_name
from easy_rec.config.locator import FieldLocator
from easy_rec.export.policy import best_metric
from easy_rec.features.raw_feature import RAW_NORMALIZERS
from easy_rec.metrics.evaluator import METRIC_KEYS as METRIC_RESULT_KEYS
from easy_rec.models import registry
from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text, save_pipeline_config
from easy_rec.protos import dataset_pb2, models_pb2, pipeline_pb2


class FakeTestModel:
    """Stands in for a real model; uses the deepfm block."""


class FakeHookModel:
    """A model whose validate_config hook insists on a feature group named 'wide'."""

    seen_locate = None

    @classmethod
    def validate_config(cls, model_config, locate) -> None:
        cls.seen_locate = locate
        if "wide" not in {g.group_name for g in model_config.feature_groups}:
            raise ConfigError("FakeHookModel needs a group named 'wide'",
                              line=locate("model_config.feature_groups"),
                              field="model_config.feature_groups")


FAKE_MODELS = {"FakeTestModel": (FakeTestModel, models_pb2.DeepFM),
               "FakeHookModel": (FakeHookModel, models_pb2.FM)}


@pytest.fixture(autouse=True)
def fake_models(monkeypatch, request):
    """Registers the fake models for one test only (other test modules list the registry).

    Also keeps the real model zoo (and TensorFlow) out unless the test's name says real_models.
    """
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_CONFIG_FIELDS", dict(registry._CONFIG_FIELDS))
    for name, (cls, config_message) in FAKE_MODELS.items():
        registry.register_model(name, config_message)(cls)
    if "real_models" not in request.function.__name__:
        monkeypatch.setattr(registry, "_load_builtin_models", lambda: None, raising=False)


BASE = """\
# a small but complete pipeline config
train_input_path: "data/train.csv"
eval_input_path: "data/test.csv"
model_dir: "experiments/fake"

train_config {
  optimizer_config {
    adam_optimizer {
      learning_rate { constant_learning_rate { learning_rate: 0.01 } }
    }
  }
  num_steps: 100
}

eval_config {
  metrics_set { auc {} }
  metrics_set { gauc { uid_field: "user_id" } }
}

data_config {
  input_fields { input_name: "label" input_type: INT32 }
  input_fields { input_name: "user_id" input_type: INT64 }
  input_fields { input_name: "item_id" input_type: STRING }
  input_fields { input_name: "price" input_type: DOUBLE }
  input_fields { input_name: "tags" input_type: STRING }
  label_fields: "label"
  batch_size: 64
  input_type: CSVInput
  separator: ","
}

feature_config {
  features {
    input_names: "user_id"
    feature_type: IdFeature
    embedding_dim: 8
    hash_bucket_size: 1000
  }
  features { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 num_buckets: 100 }
  features {
    feature_name: "genres"
    input_names: "tags"
    feature_type: TagFeature
    embedding_dim: 8
    hash_bucket_size: 50
    combiner: "mean"
  }
  features { input_names: "price" feature_type: RawFeature normalizer_fn: "tf.math.log1p" }
}

model_config {
  model_class: "FakeTestModel"
  feature_groups {
    group_name: "wide"
    feature_names: "user_id"
    feature_names: "item_id"
    wide_deep: WIDE
  }
  feature_groups {
    group_name: "deep"
    feature_names: [
      "user_id",
      "item_id",
      "genres",
      "price"
    ]
  }
  deepfm {
    dnn { hidden_units: [64, 32, 16] }
  }
}

export_config {
  exporter_type: "final"
}
"""


def variant(old: str, new: str, text: str = BASE) -> str:
    """`text` with `old` (which must occur) replaced by `new`."""
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(snippet: str, text: str = BASE, occurrence: int = 0) -> int:
    """1-based line of the `occurrence`-th line containing `snippet`."""
    hits = [i + 1 for i, line in enumerate(text.split("\n")) if snippet in line]
    return hits[occurrence]


def parse_error(text: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, "fake.config", **kwargs)
    return info.value


def edit_error(edits, text: str = BASE) -> ConfigError:
    config = parse_pipeline_config_text(text, validate=False).config
    with pytest.raises(ConfigError) as info:
        apply_edits(config, edits)
    assert info.value.path == "<edit_config_json>" and info.value.line is None
    return info.value


def edited(edits, text: str = BASE) -> pipeline_pb2.EasyRecConfig:
    config = parse_pipeline_config_text(text, validate=False).config
    apply_edits(config, edits)
    return config


# -- ConfigError -----------------------------------------------------------------------
def test_config_error_formats_known_parts():
    error = ConfigError("bad value", path="a.config", line=3, field="x.y[1]")
    assert str(error) == "a.config:3: x.y[1]: bad value"
    assert (error.path, error.line, error.field, error.reason) == ("a.config", 3, "x.y[1]", "bad value")
    assert str(ConfigError("bad", path="a.config", field="x")) == "a.config: x: bad"
    assert str(ConfigError("bad", path="a.config", line=2)) == "a.config:2: bad"
    assert str(ConfigError("bad", field="x")) == "x: bad"
    assert str(ConfigError("bad")) == "bad"
    assert isinstance(error, ValueError)


# -- a valid config --------------------------------------------------------------------
def test_valid_config_parses_and_locates_fields():
    loaded = parse_pipeline_config_text(BASE, "fake.config")
    config = loaded.config
    assert config.model_dir == "experiments/fake"
    assert config.model_config.model_class == "FakeTestModel"
    assert list(config.model_config.deepfm.dnn.hidden_units) == [64, 32, 16]
    assert [feature_name(f) for f in feature_configs(config)] == ["user_id", "item_id", "genres", "price"]
    assert loaded.path == "fake.config"
    assert loaded.locate("model_dir") == line_of("model_dir")
    assert loaded.locate("feature_config.features[2].combiner") == line_of('combiner: "mean"')
    assert loaded.locate("model_config.feature_groups[1].feature_names[2]") == line_of('"genres",')
    assert loaded.locate("model_config.feature_groups[0].feature_names[1]") == line_of('feature_names: "item_id"')
    # a field the text does not write falls back to its nearest written ancestor
    assert loaded.locate("feature_config.features[3].embedding_dim") == line_of('input_names: "price"')
    assert loaded.locate("train_config.gradient_clipping_by_norm") == line_of("train_config {")
    assert loaded.locate("nothing_here") is None
    error = loaded.error("model_config.model_class", "whatever")
    assert str(error) == f"fake.config:{line_of('model_class')}: model_config.model_class: whatever"


def test_load_pipeline_config_reads_file_and_applies_edits(tmp_path):
    path = tmp_path / "p.config"
    path.write_text(BASE, encoding="utf-8")
    loaded = load_pipeline_config(str(path), {"train_config.num_steps": 7})
    assert loaded.config.train_config.num_steps == 7
    assert loaded.path == str(path)
    assert loaded.base_dir == str(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(str(tmp_path / "missing.config"))
    assert info.value.path == str(tmp_path / "missing.config")


def test_save_pipeline_config_round_trips_atomically(tmp_path):
    config = parse_pipeline_config_text(BASE).config
    target = tmp_path / "sub" / "saved.config"
    save_pipeline_config(config, str(target))
    assert os.listdir(target.parent) == ["saved.config"]  # no temp file left behind
    assert load_pipeline_config(str(target)).config == config


# -- text-format errors ----------------------------------------------------------------
def test_unknown_field_names_file_line_and_field():
    text = variant("  num_steps: 100", "  num_stepz: 100")
    error = parse_error(text)
    assert error.path == "fake.config"
    assert error.line == line_of("num_stepz", text)
    assert error.field == "train_config.num_stepz"
    assert "num_stepz" in error.reason and "num_steps" in error.reason  # suggestion
    assert str(error).startswith(f"fake.config:{error.line}: train_config.num_stepz: ")


def test_unknown_field_in_repeated_message_names_element():
    text = variant('input_names: "price" feature_type: RawFeature',
                   'input_names: "price" feature_typo: RawFeature')
    error = parse_error(text)
    assert error.line == line_of("feature_typo", text)
    assert error.field == "feature_config.features[3].feature_typo"


def test_wrong_type_names_field():
    text = variant("  batch_size: 64", "  batch_size: lots")
    error = parse_error(text)
    assert error.line == line_of("batch_size", text)
    assert error.field == "data_config.batch_size"
    assert "integer" in error.reason and "lots" in error.reason
    assert "'  batch_size" not in error.reason  # the source-line prefix is stripped


def test_wrong_type_in_list_names_element():
    text = variant('      "genres",', "      3,")
    error = parse_error(text)
    assert error.line == line_of("      3,", text)
    assert error.field == "model_config.feature_groups[1].feature_names[2]"


def test_bad_enum_value_names_field_and_suggests():
    text = variant("input_type: CSVInput", "input_type: CSVInputt")
    error = parse_error(text)
    assert error.line == line_of("CSVInputt", text)
    assert error.field == "data_config.input_type"
    assert "CSVInputt" in error.reason and "'CSVInput'" in error.reason


def test_syntax_error_reports_line():
    text = variant("  num_steps: 100\n}", "  num_steps: 100\n}\n}")
    error = parse_error(text)
    assert error.line == line_of("num_steps", text) + 2
    assert error.field is None


def test_duplicate_singular_field_keeps_the_last_value():
    # EasyRec loads configs with text_format.Merge: the last value wins, no error
    text = variant('model_dir: "experiments/fake"', 'model_dir: "a"\nmodel_dir: "b"')
    loaded = parse_pipeline_config_text(text, validate=False)
    assert loaded.config.model_dir == "b"


def test_missing_required_fields():
    error = parse_error(variant('model_dir: "experiments/fake"\n', ""))
    assert error.field == "model_dir" and error.line is None
    assert "required" in error.reason and "no default" in error.reason

    text = variant('input_fields { input_name: "price" input_type: DOUBLE }',
                   'input_fields { input_type: DOUBLE }')
    error = parse_error(text)
    assert error.field.startswith("data_config.input_fields[") and error.field.endswith("].input_name")
    assert error.line == line_of("input_fields { input_type: DOUBLE }", text)

    # a required field with a default (or an enum) takes it, as EasyRec's text_format.Merge
    # reads it: input_type's first value
    text = variant("  input_type: CSVInput\n", "")
    config = parse_pipeline_config_text(text).config
    assert config.data_config.input_type == dataset_pb2.DatasetConfig.CSVInput

    text = variant('  model_class: "FakeTestModel"\n', "")
    error = parse_error(text)
    assert error.field == "model_config.model_class"
    assert error.line == line_of("model_config {", text)


def test_feature_type_defaults_to_id_feature_as_in_easyrec():
    text = variant('input_names: "price" feature_type: RawFeature', 'input_names: "price"')
    error = parse_error(text)  # an IdFeature needs a bucket size: the default type was applied
    assert error.field.startswith("feature_config.features[3]")
    assert "hash_bucket_size" in error.reason


def test_required_fields_can_come_from_edits():
    text = variant('model_dir: "experiments/fake"\n', "")
    assert parse_pipeline_config_text(text, edits={"model_dir": "x"}).config.model_dir == "x"


# -- validation: data_config -------------------------------------------------------------
def test_label_field_missing():
    text = variant('label_fields: "label"', 'label_fields: "clicked"')
    error = parse_error(text)
    assert error.field == "data_config.label_fields[0]"
    assert error.line == line_of('label_fields: "clicked"', text)
    assert "'clicked'" in error.reason


def test_sample_weight_missing():
    text = variant("  batch_size: 64", '  batch_size: 64\n  sample_weight: "w"')
    error = parse_error(text)
    assert (error.field, error.line) == ("data_config.sample_weight", line_of("sample_weight", text))


def test_duplicate_input_field():
    text = variant('input_name: "tags"', 'input_name: "price"')
    error = parse_error(text)
    assert error.field == "data_config.input_fields[4].input_name"
    assert error.line == line_of('input_name: "price"', text, occurrence=1)


def test_default_val_must_parse_as_the_field_type():
    text = variant('input_name: "price" input_type: DOUBLE',
                   'input_name: "price" input_type: DOUBLE default_val: "n/a"')
    error = parse_error(text)
    assert error.field == "data_config.input_fields[3].default_val"
    assert error.line == line_of('default_val: "n/a"', text)
    assert "'n/a'" in error.reason and "DOUBLE" in error.reason


def test_feature_input_name_missing_reports_input_names_line():
    text = variant('input_names: "tags"', 'input_names: "tagz"')
    error = parse_error(text)
    assert error.field == "feature_config.features[2].input_names[0]"
    assert error.line == line_of('input_names: "tagz"', text)


def test_unsupported_input_type():
    text = variant("input_type: CSVInput", "input_type: OdpsInputV2")
    error = parse_error(text)
    assert (error.field, error.line) == ("data_config.input_type", line_of("OdpsInputV2", text))
    assert error.reason.startswith("input_type: OdpsInputV2 is not supported: ")
    assert "platform-only" in error.reason


def test_batch_size_and_separator():
    error = parse_error(variant("batch_size: 64", "batch_size: 0"))
    assert error.field == "data_config.batch_size"
    error = parse_error(variant('separator: ","', 'separator: ""'))
    assert error.field == "data_config.separator"


def test_missing_data_config():
    start = BASE.index("data_config {")
    end = BASE.index("feature_config {")
    error = parse_error(BASE[:start] + BASE[end:])
    assert error.field == "data_config"


# -- validation: features ----------------------------------------------------------------
def test_duplicate_feature_name():
    text = variant('feature_name: "genres"', 'feature_name: "user_id"')
    error = parse_error(text)
    assert error.field == "feature_config.features[2].feature_name"
    assert error.line == line_of('feature_name: "user_id"', text)


def test_id_feature_needs_exactly_one_bucket_source_and_embedding_dim():
    text = variant("embedding_dim: 8 num_buckets: 100", "embedding_dim: 8")
    error = parse_error(text)
    assert error.field == "feature_config.features[1]"
    assert error.line == line_of('input_names: "item_id"', text)
    assert "none is set" in error.reason

    error = parse_error(variant("num_buckets: 100", "num_buckets: 100 hash_bucket_size: 5"))
    assert "found hash_bucket_size, num_buckets" in error.reason

    text = variant("    embedding_dim: 8\n    hash_bucket_size: 1000", "    hash_bucket_size: 1000")
    error = parse_error(text)
    assert error.field == "feature_config.features[0].embedding_dim"
    assert error.line == line_of("features {", text)


def test_raw_feature_checks():
    error = parse_error(variant('normalizer_fn: "tf.math.log1p"', 'normalizer_fn: "exp"'))
    assert error.field == "feature_config.features[3].normalizer_fn" and "'exp'" in error.reason
    raw = 'feature_type: RawFeature normalizer_fn: "tf.math.log1p"'
    error = parse_error(variant(raw, "feature_type: RawFeature boundaries: [1, 5, 3]"))
    assert "embedding_dim" in error.field
    text = variant(raw, "feature_type: RawFeature embedding_dim: 4 boundaries: [1, 5, 3]")
    error = parse_error(text)
    assert error.field == "feature_config.features[3].boundaries[2]"
    assert error.line == line_of("boundaries", text)
    parse_pipeline_config_text(variant(raw, "feature_type: RawFeature embedding_dim: 4 boundaries: [1, 3, 5]"))


def test_raw_normalizers_constant():
    assert RAW_NORMALIZERS["tf.math.log1p"] == RAW_NORMALIZERS["log1p"] == "log1p"
    assert RAW_NORMALIZERS[""] == ""
    assert {"sqrt", "log10"} <= set(RAW_NORMALIZERS.values())


def test_combiner_must_be_known():
    text = variant('combiner: "mean"', 'combiner: "max"')
    error = parse_error(text)
    assert (error.field, error.line) == ("feature_config.features[2].combiner", line_of("combiner", text))


def test_combo_feature_checks():
    combo = ('  features { feature_name: "cross" input_names: "user_id" feature_type: ComboFeature '
             "embedding_dim: 4 hash_bucket_size: 10 }\n}\n\nmodel_config")
    text = variant("}\n\nmodel_config", combo)
    error = parse_error(text)
    assert error.field == "feature_config.features[4].input_names"
    assert error.line == line_of("ComboFeature", text)
    text = variant('input_names: "user_id" feature_type: ComboFeature',
                   'input_names: ["user_id", "item_id"] feature_type: ComboFeature', text)
    parse_pipeline_config_text(text)
    error = parse_error(variant("hash_bucket_size: 10 }", "}", text))
    assert error.field == "feature_config.features[4].hash_bucket_size"


def test_shared_embedding_must_agree():
    text = variant("embedding_dim: 8 num_buckets: 100",
                   'embedding_dim: 8 num_buckets: 100 embedding_name: "ids"')
    text = variant("    hash_bucket_size: 1000", '    hash_bucket_size: 1000\n    embedding_name: "ids"', text)
    error = parse_error(text)
    assert error.field == "feature_config.features[1]"
    assert "'ids'" in error.reason and "hash_bucket_size 1000" in error.reason
    assert "num_buckets 100" in error.reason
    same = variant("num_buckets: 100 embedding_name", "hash_bucket_size: 1000 embedding_name", text)
    parse_pipeline_config_text(same)
    error = parse_error(variant("    embedding_dim: 8\n", "    embedding_dim: 16\n", same))
    assert error.field == "feature_config.features[1].embedding_dim"


def test_vocab_file_resolved_against_config_dir(tmp_path, monkeypatch):
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    text = variant("embedding_dim: 8 num_buckets: 100", 'embedding_dim: 8 vocab_file: "vocab.txt"')
    config_path = tmp_path / "p.config"
    config_path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(REPO)
    load_pipeline_config(str(config_path))  # found next to the config
    config_path.write_text(variant("vocab.txt", "missing_vocab.txt", text), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(str(config_path))
    assert info.value.field == "feature_config.features[1].vocab_file"
    assert info.value.line == line_of("vocab_file", text)
    assert "missing_vocab.txt" in info.value.reason
    monkeypatch.chdir(tmp_path)  # relative to the working directory also works
    parse_pipeline_config_text(text)


def test_feature_type_fields_are_checked_by_the_type():
    # every FeatureType is implemented; each checks the fields it reads (an ExprFeature its
    # expression)
    text = variant("feature_type: TagFeature", "feature_type: ExprFeature")
    error = parse_error(text)
    assert error.field == "feature_config.features[2].expression"
    assert "ExprFeature 'genres' needs an expression" in error.reason
    assert error.line == line_of('feature_name: "genres"', text) - 1  # the feature's block


def test_old_feature_configs_layout():
    start, end = BASE.index("feature_config {"), BASE.index("model_config {")
    old = ('feature_configs { input_names: "user_id" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 9 }\n'
           'feature_configs { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 num_buckets: 9 }\n'
           'feature_configs { feature_name: "genres" input_names: "tags" feature_type: TagFeature '
           'embedding_dim: 8 hash_bucket_size: 5 }\n'
           'feature_configs { input_names: "price" feature_type: RawFeature }\n\n')
    text = BASE[:start] + old + BASE[end:]
    config = parse_pipeline_config_text(text).config
    assert [feature_name(f) for f in feature_configs(config)] == ["user_id", "item_id", "genres", "price"]
    bad = variant('input_names: "item_id" feature_type: IdFeature embedding_dim: 8 num_buckets: 9',
                  'input_names: "itemz" feature_type: IdFeature embedding_dim: 8 num_buckets: 9', text)
    error = parse_error(bad)
    assert error.field == "feature_configs[1].input_names[0]"
    assert error.line == line_of("itemz", bad)
    edited_config = edited({"feature_configs[feature_name=genres].embedding_dim": 3}, text)
    assert feature_configs(edited_config)[2].embedding_dim == 3
    both = BASE[:start] + old + BASE[start:]
    error = parse_error(both)
    assert "feature_configs" in error.reason and "feature_config.features" in error.reason
    with pytest.raises(ConfigError):
        feature_configs(parse_pipeline_config_text(both, validate=False).config)


# -- validation: model_config ------------------------------------------------------------
def test_feature_group_naming_missing_feature_reports_exact_line():
    text = variant('      "genres",', '      "genre",')
    error = parse_error(text)
    assert error.field == "model_config.feature_groups[1].feature_names[2]"
    assert error.line == line_of('"genre",', text)
    assert "'genre'" in error.reason and "'deep'" in error.reason
    text = variant('feature_names: "item_id"', 'feature_names: "itemz"')
    error = parse_error(text)
    assert (error.field, error.line) == ("model_config.feature_groups[0].feature_names[1]",
                                         line_of('"itemz"', text))


def test_group_names_unique_and_non_empty():
    error = parse_error(variant('group_name: "deep"', 'group_name: "wide"'))
    assert error.field == "model_config.feature_groups[1].group_name"
    error = parse_error(variant('group_name: "deep"', 'group_name: ""'))
    assert error.field == "model_config.feature_groups[1].group_name"


def test_model_block_must_match_model_class():
    text = variant("  deepfm {", "  wide_and_deep {\n    wide_output_dim: 1")
    error = parse_error(text)
    assert error.field == "model_config.wide_and_deep"
    assert error.line == line_of("wide_and_deep {", text)
    assert "FakeTestModel" in error.reason and "'deepfm'" in error.reason and "'wide_and_deep'" in error.reason
    # even when required fields inside the wrong block are missing, the mismatch is reported
    error = parse_error(variant("  deepfm {", "  wide_and_deep {"))
    assert error.field == "model_config.wide_and_deep"


def test_missing_model_block():
    start = BASE.index("  deepfm {")
    end = BASE.index("\n}\n\nexport_config")
    text = BASE[:start] + BASE[end + 1:]
    error = parse_error(text)
    assert error.field == "model_config.model_class"
    assert error.line == line_of("model_class", text)
    assert "'deepfm'" in error.reason and "no model block" in error.reason


def test_unknown_model_class_lists_known_ones():
    text = variant('"FakeTestModel"', '"NoSuchModel"')
    error = parse_error(text)
    assert (error.field, error.line) == ("model_config.model_class", line_of("NoSuchModel", text))
    assert "NoSuchModel" in error.reason and "FakeTestModel" in error.reason


def test_num_class():
    error = parse_error(variant('  model_class: "FakeTestModel"', '  model_class: "FakeTestModel"\n  num_class: 0'))
    assert error.field == "model_config.num_class"


def test_model_validate_config_hook_is_called():
    text = variant('"FakeTestModel"', '"FakeHookModel"')
    text = variant("  deepfm {\n    dnn { hidden_units: [64, 32, 16] }\n  }", "  fm {}", text)
    parse_pipeline_config_text(text)
    assert FakeHookModel.seen_locate is not None
    error = parse_error(variant('group_name: "wide"', 'group_name: "narrow"', text))
    assert error.path == "fake.config"  # filled in by the loader
    assert error.line == line_of("feature_groups {", text)
    assert "FakeHookModel" in error.reason


# -- validation: train / eval / export ---------------------------------------------------
def test_optimizer_checks():
    no_lr = variant("      learning_rate { constant_learning_rate { learning_rate: 0.01 } }\n", "")
    error = parse_error(no_lr)
    assert error.field == "train_config.optimizer_config[0].adam_optimizer.learning_rate"
    assert error.line == line_of("adam_optimizer", no_lr)
    start, end = BASE.index("  optimizer_config {"), BASE.index("  num_steps: 100")
    error = parse_error(BASE[:start] + BASE[end:])
    assert error.field == "train_config.optimizer_config"
    assert error.line == line_of("train_config {")
    optimizer = BASE[start:end]
    error = parse_error(BASE[:start] + optimizer * 3 + BASE[end:])
    assert error.field == "train_config.optimizer_config[2]"
    parse_pipeline_config_text(BASE[:start] + optimizer * 2 + BASE[end:])
    error = parse_error(variant("  num_steps: 100", "  num_steps: 100\n  optimizer_config { }"))
    assert error.field == "train_config.optimizer_config[1]" and "adam_optimizer" in error.reason
    error = parse_error(variant("  num_steps: 100", "  gradient_clipping_by_norm: -1"))
    assert error.field == "train_config.gradient_clipping_by_norm"


def test_gauc_uid_field_missing():
    text = variant('uid_field: "user_id"', 'uid_field: "uid"')
    error = parse_error(text)
    assert error.field == "eval_config.metrics_set[1].gauc.uid_field"
    assert error.line == line_of('uid_field: "uid"', text)
    assert "'uid'" in error.reason


def test_exporter_checks(caplog):
    text = variant('exporter_type: "final"', 'exporter_type: "first"')
    error = parse_error(text)
    assert (error.field, error.line) == ("export_config.exporter_type", line_of("first", text))
    best = 'exporter_type: "best"\n  best_exporter_metric: "gauc"'
    parse_pipeline_config_text(variant('exporter_type: "final"', best))
    # a metric evaluation does not report: a warning, and the first configured metric instead
    text = variant('exporter_type: "final"', 'exporter_type: "best"\n  best_exporter_metric: "mse"')
    config = parse_pipeline_config_text(text).config
    assert best_metric(config) == "auc"
    assert "'mse' is not a configured eval metric (configured: auc, gauc)" in caplog.text
    del config.eval_config.metrics_set[:]
    assert best_metric(config) == ""
    assert METRIC_RESULT_KEYS["log_loss"] == "logloss"
    assert METRIC_RESULT_KEYS["root_mean_squared_error"] == "rmse"


# -- edits -------------------------------------------------------------------------------
def test_edit_scalars_and_type_conversion():
    config = edited({"train_config.num_steps": "250", "data_config.shuffle": "false",
                     "train_config.optimizer_config[0].adam_optimizer.beta1": 0.5,
                     "data_config.input_type": "CSVInputV2", "model_dir": "elsewhere",
                     "model_config.model_class": "FakeHookModel", "data_config.batch_size": 128.0})
    assert config.train_config.num_steps == 250
    assert config.data_config.shuffle is False
    assert config.train_config.optimizer_config[0].adam_optimizer.beta1 == pytest.approx(0.5)
    assert config.data_config.input_type == dataset_pb2.DatasetConfig.CSVInputV2
    assert config.model_dir == "elsewhere" and config.data_config.batch_size == 128


def test_edit_json_string():
    config = edited(json.dumps({"train_config.num_steps": 5, "feature_config.features[0].embedding_dim": 4}))
    assert config.train_config.num_steps == 5
    assert config.feature_config.features[0].embedding_dim == 4
    assert edited("").train_config.num_steps == 100


def test_edit_all_elements():
    config = edited({"feature_config.features[:].embedding_dim": 12})
    assert [f.embedding_dim for f in config.feature_config.features] == [12, 12, 12, 12]


def test_edit_slices_and_negative_index():
    config = edited({"feature_config.features[1:3].embedding_dim": 2,
                     "feature_config.features[-1].raw_input_dim": 3})
    assert [f.embedding_dim for f in config.feature_config.features] == [8, 2, 2, 0]
    assert config.feature_config.features[3].raw_input_dim == 3


def test_edit_condition_on_repeated_subfield_element():
    config = edited({"feature_config.features[input_names[0]=user_id].hash_bucket_size": 77,
                     "feature_config.features[feature_name=genres].embedding_dim": 6,
                     "feature_config.features[input_names='item_id'].num_buckets": 50,
                     "model_config.feature_groups[group_name=deep].wide_deep": "WIDE",
                     "feature_config.features[feature_type=RawFeature].normalizer_fn": "sqrt"})
    features = config.feature_config.features
    assert features[0].hash_bucket_size == 77 and features[1].hash_bucket_size == 0
    assert features[2].embedding_dim == 6 and features[0].embedding_dim == 8
    assert features[1].num_buckets == 50
    assert features[3].normalizer_fn == "sqrt"
    assert config.model_config.feature_groups[1].wide_deep == 1


def test_edit_numeric_comparisons():
    def dims(edits):
        return [f.embedding_dim for f in edited(edits).feature_config.features]

    assert dims({"feature_config.features[hash_bucket_size>100].embedding_dim": 1}) == [1, 8, 8, 0]
    assert dims({"feature_config.features[hash_bucket_size>=50].embedding_dim": 1}) == [1, 8, 1, 0]
    assert dims({"feature_config.features[num_buckets<101].embedding_dim": 1}) == [1, 1, 1, 1]
    assert dims({"feature_config.features[hash_bucket_size<=50].embedding_dim": 1}) == [8, 1, 1, 1]
    assert dims({"feature_config.features[hash_bucket_size!=0].embedding_dim": 1}) == [1, 8, 1, 0]
    # chained selectors: filter, then index into what is left
    assert dims({"feature_config.features[embedding_dim>0][-1].embedding_dim": 1}) == [8, 8, 1, 0]


def test_edit_repeated_scalar_index_and_list():
    config = edited({"model_config.deepfm.dnn.hidden_units[0]": 128,
                     "model_config.deepfm.dnn.hidden_units[-1]": "8"})
    assert list(config.model_config.deepfm.dnn.hidden_units) == [128, 32, 8]
    config = edited({"model_config.deepfm.dnn.hidden_units": [10, 5],
                     "model_config.feature_groups[0].feature_names": ["user_id"]})
    assert list(config.model_config.deepfm.dnn.hidden_units) == [10, 5]
    assert list(config.model_config.feature_groups[0].feature_names) == ["user_id"]


def test_edit_message_values():
    config = edited({"train_config.optimizer_config[0].adam_optimizer": {"beta2": 0.9},
                     "export_config": {"exporter_type": "latest"},
                     "eval_config.metrics_set": [{"auc": {}}, {"log_loss": {}}],
                     "data_config.input_fields[input_name=price]": 'default_val: "0"'})
    adam = config.train_config.optimizer_config[0].adam_optimizer
    assert adam.beta2 == pytest.approx(0.9) and adam.HasField("learning_rate")  # merged, not replaced
    assert config.export_config.exporter_type == "latest"
    assert [m.WhichOneof("metric") for m in config.eval_config.metrics_set] == ["auc", "log_loss"]
    assert config.data_config.input_fields[3].default_val == "0"


def test_edit_errors_name_the_edit_path():
    error = edit_error({"train_config.num_stepz": 1})
    assert error.field == "train_config.num_stepz" and "'num_stepz'" in error.reason
    assert str(error).startswith("<edit_config_json>: train_config.num_stepz: ")

    error = edit_error({"feature_config.features[input_names[0]=nobody].embedding_dim": 1})
    assert "matches no element" in error.reason

    error = edit_error({"model_config.deepfm.dnn.hidden_units[3]": 1})
    assert "out of range" in error.reason and "3 elements" in error.reason

    error = edit_error({"feature_config.features[9].embedding_dim": 1})
    assert "out of range" in error.reason

    error = edit_error({"train_config.num_steps": "many"})
    assert "not an integer" in error.reason
    assert "not an integer" in edit_error({"train_config.num_steps": 1.5}).reason
    assert "out of range" in edit_error({"train_config.num_steps": -1}).reason
    assert "not true or false" in edit_error({"data_config.shuffle": "maybe"}).reason
    assert "CSVInput" in edit_error({"data_config.input_type": "Csv"}).reason
    assert "list" in edit_error({"model_config.deepfm.dnn.hidden_units": 3}).reason
    assert "is repeated" in edit_error({"feature_config.features.embedding_dim": 3}).reason
    assert "not a repeated" in edit_error({"train_config[0].num_steps": 3}).reason
    assert "compares numbers" in edit_error({"feature_config.features[input_names>3].embedding_dim": 3}).reason


def test_edit_into_unset_oneof_member_names_both():
    error = edit_error({"model_config.wide_and_deep.dnn.hidden_units[0]": 1})
    assert error.field == "model_config.wide_and_deep.dnn.hidden_units[0]"
    assert "'deepfm'" in error.reason and "'wide_and_deep'" in error.reason
    error = edit_error({"train_config.optimizer_config[0].sgd_optimizer.learning_rate": {}})
    assert "'adam_optimizer'" in error.reason and "'sgd_optimizer'" in error.reason


def test_edit_assigning_a_whole_oneof_member_switches_it():
    config = edited({"model_config.model_class": "FakeHookModel", "model_config.fm": {}})
    assert config.model_config.WhichOneof("model") == "fm"
    config = edited({"train_config.optimizer_config[0].sgd_optimizer": {
        "learning_rate": {"constant_learning_rate": {"learning_rate": 0.1}}}})
    assert config.train_config.optimizer_config[0].WhichOneof("optimizer") == "sgd_optimizer"


def test_edit_bad_json():
    error = edit_error('{"train_config.num_steps": }')
    assert "JSON" in error.reason
    error = edit_error("[1, 2]")
    assert "object" in error.reason


def test_edit_result_is_validated_and_attributed():
    error = parse_error(BASE, edits={"feature_config.features[input_names[0]=user_id].embedding_dim": 0})
    assert error.field == "feature_config.features[0].embedding_dim"
    assert "edit_config_json" in error.reason


# -- locator -----------------------------------------------------------------------------
def test_locator_handles_comments_strings_and_syntaxes():
    text = (
        "a: 1  # b { c: 2 }\n"          # 1
        'name: "x # { not a block"\n'  # 2
        "msg {\n"                      # 3
        "  inner: 'y' 'z'\n"           # 4
        "}\n"                          # 5
        "msg: {\n"                     # 6
        "  inner: 3\n"                 # 7
        "}\n"                          # 8
        "angle <\n"                    # 9
        "  v: [1,\n"                   # 10
        "      2]\n"                   # 11
        ">\n"                          # 12
        "items: [{k: 1}, {\n"          # 13
        "  k: 2}]\n"                   # 14
    )
    locator = FieldLocator(text)  # no descriptor: every field is indexed
    assert locator.complete
    assert locator.locate("a") == 1
    assert locator.locate("b") is None
    assert locator.locate("name[0]") == 2
    assert locator.locate("msg[0].inner") == 4
    assert locator.locate("msg[1].inner[0]") == 7
    assert locator.locate("msg[-1]") == 6
    assert locator.locate("angle.v[1]") == 11
    assert locator.locate("angle[0].v[0]") == 10
    assert locator.locate("items[1].k") == 14
    assert locator.locate("items[1].missing") == 13
    assert locator.count("msg") == 2
    assert locator.exact("items[1].missing") is None
    assert locator.field_at(7, 10) == "msg[1].inner[0]"
    assert locator.field_at(1, 20) is None  # inside a comment, after the field


def test_locator_with_descriptor_indexes_only_repeated_fields():
    locator = FieldLocator(BASE, pipeline_pb2.EasyRecConfig.DESCRIPTOR)
    assert locator.exact("train_config.num_steps") == line_of("num_steps")
    assert locator.exact("train_config[0].num_steps") is None
    assert locator.exact("data_config.input_fields[2].input_name") == line_of('"item_id" input_type')
    assert locator.locate("model_config.deepfm.dnn.hidden_units[2]") == line_of("hidden_units")


def test_locator_survives_broken_text():
    locator = FieldLocator("a {\n  b: 1\n  c {\n")
    assert not locator.complete
    assert locator.locate("a[0].b[0]") == 2
    assert locator.field_at(4, 1) == "a[0].c[0]"


# -- imports and real models -------------------------------------------------------------
def test_config_package_does_not_import_tensorflow():
    code = ("import sys, easy_rec.config, easy_rec.config.loader, easy_rec.config.edit, "
            "easy_rec.config.data_checks, easy_rec.config.context, easy_rec.config.resources, "
            "easy_rec.config.locator; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("name", ["deepfm", "wide_and_deep", "multi_tower"])
def test_sample_configs_validate_with_real_models(name):
    path = os.path.join(REPO, "samples", f"{name}_on_movielens.config")
    if not os.path.exists(path):
        pytest.skip(f"no sample {path}")
    loaded = load_pipeline_config(path, {"train_config.num_steps": 3})
    assert loaded.config.train_config.num_steps == 3
    assert registry.model_config_field(loaded.config.model_config.model_class) == \
        loaded.config.model_config.WhichOneof("model")

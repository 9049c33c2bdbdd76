"""The feature language in pipeline configs: refusals with file, line and field; name ranges
and shared_names expanded on load; the samples under samples/features build, train and export."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows

from easy_rec.config.errors import ConfigError
from easy_rec.input.reader import build_reader
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text
from easy_rec.training.trainer import Trainer

TEXT_CNN = os.path.join(SAMPLES, "features", "text_cnn_on_movielens.config")
SEQ_ATT = os.path.join(SAMPLES, "features", "sequence_features_on_movielens.config")
DIN = os.path.join(SAMPLES, "din_on_movielens.config")
SAMPLE_DATA = {TEXT_CNN: "movielens_", SEQ_ATT: "movielens_seq_"}


def edited(path: str, old: str, new: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text, old
    return text.replace(old, new)


def refusal(path: str, old: str, new: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(edited(path, old, new), path)
    return info.value


REFUSALS = [
    (TEXT_CNN, "num_filters: [16, 8, 8]", "num_filters: [16, 8]",
     "features[6].sequence_combiner.text_cnn", "one num_filters entry per filter_sizes entry"),
    (TEXT_CNN, "pad_sequence_length: 12", "pad_sequence_length: 12 mlp { hidden_units: [8] }",
     "text_cnn.mlp", "mlp is not supported"),
    (TEXT_CNN, "sequence_combiner { attention {} }",
     "sequence_combiner { multi_head_attention {} }", "sequence_combiner.multi_head_attention",
     "multi_head_attention is not supported"),
    (TEXT_CNN, 'expression: "year < 1980"', 'expression: "year < genres_count"',
     "features[8].expression", "uses 'genres_count', which must be listed in input_names"),
    (TEXT_CNN, 'expression: "year < 1980"', 'expression: "year < "',
     "features[8].expression", "found the end at position 7"),
    (SEQ_ATT, 'key: "movie_id" key: "genre"', 'key: "movie_id"', "sequence_features[0]",
     "its keys are 16 wide and its histories 24; make the embedding_dims agree or set "
     "allow_key_transform: true"),
    (SEQ_ATT, 'age_value", "job_id", "zip_id"]\n    wide_deep: DEEP',
     'age_value", "job_id", "zip_id"]\n    wide_deep: WIDE', "feature_groups[0].sequence_features",
     "sequence_features (target attention) needs a DEEP group"),
    (DIN, 'seq_att_map { key: "genre" hist_seq: "hist_genres" }',
     'seq_att_map { key: "genre" hist_seq: "hist_genres" aux_hist_seq: "hist_movie_ids" }',
     "seq_att_map[1].aux_hist_seq[0]", "aux_hist_seq is not supported in model_config.seq_att_groups"),
    (SEQ_ATT, 'separator: ";" max_seq_len: 20\n    embedding_dim: 8',
     'separator: ";" max_seq_len: 20 sub_feature_type: RawFeature hash_bucket_size: 9\n'
     '    embedding_dim: 8', "hash_bucket_size", "takes boundaries (or num_buckets with "
     "min_val/max_val), not hash_bucket_size"),
    (TEXT_CNN, "features {\n    feature_name: \"era1\"",
     'features { feature_name: "clicks" input_names: ["user_id", "genres"] '
     'feature_type: LookupFeature hash_bucket_size: 10 embedding_dim: 4 }\n'
     '  features {\n    feature_name: "era1"', "kv_separator", "needs kv_separator"),
]


@pytest.mark.parametrize("path, old, new, field, words", REFUSALS, ids=[
    "text_cnn_filters", "text_cnn_mlp", "multi_head_attention", "expression_column",
    "expression_syntax", "key_width", "wide_group", "aux_hist_seq_in_seq_att_groups",
    "raw_sequence_hash", "lookup_kv_separator"])
def test_refusals_name_file_line_and_field(path, old, new, field, words):
    error = refusal(path, old, new)
    assert field in error.field and words in error.reason, str(error)
    assert error.line and str(error).startswith(f"{path}:{error.line}: ")


def test_sequence_combiner_outside_a_sequence_feature_is_ignored_with_a_warning(caplog):
    text = edited(SEQ_ATT, 'combiner: "mean"', 'combiner: "mean" sequence_combiner { attention {} }')
    with caplog.at_level(logging.WARNING):
        parse_pipeline_config_text(text, SEQ_ATT)
    assert "sequence_combiner of TagFeature 'genres' is ignored" in caplog.text


def written_line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_group_name_ranges_expand_and_errors_point_at_the_written_line():
    config = load_pipeline_config(TEXT_CNN).config
    assert list(config.model_config.feature_groups[1].feature_names)[-2:] == ["era1", "era2"]
    text = edited(TEXT_CNN, '"era[1-2]"]', '"era[1-3]"]')
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, TEXT_CNN)
    assert "names feature 'era3', which is not defined" in info.value.reason
    assert info.value.field == "model_config.feature_groups[1].feature_names[6]"
    assert info.value.line == written_line(text, '"era[1-3]"]')


def test_shared_names_copy_the_feature_and_errors_point_at_the_original():
    features = load_pipeline_config(TEXT_CNN).config.feature_config.features
    copy = features[len(features) - 1]
    assert list(copy.input_names) == ["movie_id"] and not copy.feature_name
    assert copy.hash_bucket_size == 12000 and not features[0].shared_names
    text = edited(TEXT_CNN, 'shared_names: "movie_id"', 'shared_names: ["movie_id", "nope"]')
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, TEXT_CNN)
    assert "'nope' is not in data_config.input_fields" in info.value.reason
    assert info.value.line == written_line(text, 'shared_names: ["movie_id", "nope"]')


def data_slice(path: str, split: str, rows: int, folder) -> str:
    """The first `rows` rows of the sample's `split` file, written to `folder`."""
    out = str(folder / f"{split}.csv")
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(sample_rows(f"{SAMPLE_DATA[path]}{split}.csv", rows)))
    return out


@pytest.mark.parametrize("path", [TEXT_CNN, SEQ_ATT], ids=["text_cnn", "sequence_features"])
def test_samples_build_and_score_real_rows(path, tmp_path):
    config = load_pipeline_config(path).config
    tf.random.set_seed(0)
    model = build_model(config, base_dir=os.path.dirname(path))
    reader = build_reader(config.data_config, data_slice(path, "train", 64, tmp_path),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(64, num_epochs=1)))
    outputs = model(batch, training=True)
    loss = model.loss(outputs, batch) + model.regularization(outputs)
    assert outputs["probs"].shape == [64] and np.isfinite(float(loss))
    layer = model.feature_layer
    if path == TEXT_CNN:
        assert layer.feature_dim("title") == 32 and layer.feature_dim("era1") == 1
        assert "movie_id" in layer.features  # from user_id's shared_names
    else:
        assert layer.field_dims("user")[-4:] == [16, 8, 16, 8]  # pooled histories, keys


@pytest.mark.slow
@pytest.mark.parametrize("path", [TEXT_CNN, SEQ_ATT], ids=["text_cnn", "sequence_features"])
def test_samples_train_and_export(path, tmp_path):
    config = load_pipeline_config(path, {
        "model_dir": str(tmp_path / "model"),
        "train_input_path": data_slice(path, "train", 640, tmp_path),
        "eval_input_path": data_slice(path, "test", 128, tmp_path), "data_config.batch_size": 32,
        "data_config.num_epochs": 0, "train_config.num_steps": 20,
        "train_config.log_step_count_steps": 10}).config
    tf.random.set_seed(7)
    trainer = Trainer(config, base_dir=REPO)
    results = trainer.train()
    assert np.isfinite(results["auc"])
    export = os.path.join(config.model_dir, "export", "final")
    (version,) = os.listdir(export)
    serve = tf.saved_model.load(os.path.join(export, version)).signatures["serving_default"]
    batch = next(iter(trainer.evaluator._reader.make_dataset(8, num_epochs=1, shuffle=False)))
    inputs = {n: batch[n] for n in trainer.model.serving_input_names}
    expected = trainer.model(inputs, training=False)["probs"].numpy()
    np.testing.assert_allclose(serve(**inputs)["probs"].numpy(), expected, rtol=1e-4, atol=1e-6)

"""MIND in EasyRec's config form: the history as feature group 'hist' (user_seq_combine, the
time feature), no item_id, and configs written before concat_dnn (user_dnn on [capsule,
profile])."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows

from easy_rec.config.errors import ConfigError
from easy_rec.input.reader import build_reader
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.pipeline import parse_pipeline_config_text

# extra SequenceFeatures over the history columns: a width-1 time feature (named as EasyRec's
# time_id) and a second 32-wide movie history
EXTRA_FEATURES = """
  features {
    input_names: "hist_genres" feature_name: "time_id" feature_type: SequenceFeature
    separator: ";" max_seq_len: 20 embedding_dim: 1 num_buckets: 19
  }
  features {
    input_names: "hist_movie_ids" feature_name: "hist_movies_b" feature_type: SequenceFeature
    separator: ";" max_seq_len: 20 embedding_dim: 32 num_buckets: 1700
  }
}
"""


def hist_form(names: list[str], combine: str, legacy: bool = False, mind_extra: str = "") -> str:
    """The MIND sample in EasyRec's form: group 'hist' instead of seq_att_groups, no
    sequence_group, no item_id; `legacy`: concat_dnn empty, user_dnn ending in the
    embedding size (EasyRec's configs written before concat_dnn)."""
    with open(os.path.join(SAMPLES, "mind_on_movielens.config"), encoding="utf-8") as f:
        text = f.read()
    start, end = text.index("  seq_att_groups {"), text.index("  mind {")
    group = f'  feature_groups {{ group_name: "hist" feature_names: {names!r} }}\n'
    text = text[:start] + group.replace("'", '"') + text[end:]
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith(("    item_id:", "    sequence_group:",
                                             "  metrics_set { retrieval")))  # need item_id

    user_dnn = "[128, 64]" if legacy else "[64]"
    text = text.replace("    user_dnn { hidden_units: [64] }",
                        f"    user_seq_combine: {combine}\n{mind_extra}"
                        f"    user_dnn {{ hidden_units: {user_dnn} }}")
    if legacy:
        text = text.replace("concat_dnn { hidden_units: [128, 64] }", "concat_dnn {}")
    return text.replace("\n}\n\nmodel_config", EXTRA_FEATURES + "\nmodel_config", 1)


def built(tmp_path, text: str):
    data = tmp_path / "train.csv"
    data.write_text("".join(sample_rows("movielens_seq_train.csv", 64)), encoding="utf-8")
    config = parse_pipeline_config_text(text, "mind.config", edits={
        "train_input_path": str(data), "eval_input_path": str(data),
        "model_dir": str(tmp_path / "m")}).config
    tf.random.set_seed(4)
    model = build_model(config, SAMPLES)
    reader = build_reader(config.data_config, str(data), model_column_plan(config, model))
    return model, next(iter(reader.make_dataset(32, num_epochs=1, shuffle=False)))


def test_concat_with_time_weights_and_no_item_id(tmp_path):
    model, batch = built(tmp_path, hist_form(["hist_movie_ids", "hist_genres", "time_id"],
                                             "CONCAT"))
    features = model.feature_layer(batch)
    behaviours, length = model._behaviour_sequence(features, training=False)
    movies, genres, time = features.unpooled["hist"]
    mask = movies.mask.numpy()
    logits = np.where(mask, time.values.numpy()[:, :, 0], -50.0)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True)) * mask
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-30)  # empty history: 0
    expected = np.concatenate([movies.values.numpy(), genres.values.numpy()], -1)
    np.testing.assert_allclose(behaviours.numpy(), expected * weights[..., None], rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_array_equal(length.numpy(), mask.sum(axis=1))
    assert model.item_id_field is None  # no item_id: no accidental-hit masking
    outputs = model(batch, training=True)
    assert np.isfinite(float(model.loss(outputs, batch)))


def test_sum_averages_the_features(tmp_path):
    model, batch = built(tmp_path, hist_form(["hist_movie_ids", "hist_movies_b"], "SUM"))
    features = model.feature_layer(batch)
    behaviours, _ = model._behaviour_sequence(features, training=False)
    first, second = features.unpooled["hist"]
    np.testing.assert_allclose(behaviours.numpy(),
                               (first.values.numpy() + second.values.numpy()) / 2, rtol=1e-6)
    # the movie (32) and genre (8) histories cannot be averaged
    with pytest.raises(ValueError, match="one embedding_dim"):
        built(tmp_path, hist_form(["hist_movie_ids", "hist_genres"], "SUM"))


def test_legacy_form_uses_user_dnn_on_capsule_and_profile(tmp_path):
    model, batch = built(tmp_path, hist_form(["hist_movie_ids"], "SUM", legacy=True))
    assert model.user_dnn is None
    profile = model.feature_layer.group_dim("user")
    kernels = sorted((v.shape for v in model.concat_dnn.trainable_variables
                      if len(v.shape) == 2), key=lambda s: -s[0])
    assert tuple(kernels[0]) == (model.capsules.high_dim + profile, 128)
    assert model(batch)["user_emb"].shape == (32, model.capsules.max_k, 64)


def test_time_id_fea_must_be_in_group_hist():
    text = hist_form(["hist_movie_ids"], "SUM", mind_extra='    time_id_fea: "hist_genres"\n')
    with pytest.raises(ConfigError, match="time_id_fea"):
        parse_pipeline_config_text(text)

"""BST, DIEN and DMR: GRU and loss formulas against numpy, mask handling, auxiliary losses,
config errors. (Training, export and serving of the samples: tests/test_model_zoo.py.)"""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES
from layers.layer_helpers import tree_kernels

from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import SequenceGroup
from easy_rec.input.reader import build_reader
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.models.sequence_base import AUX_LOSS_KEY
from easy_rec.pipeline import load_pipeline_config

BATCH = 64


def _sample(name: str) -> str:
    return os.path.join(SAMPLES, f"{name}_on_movielens.config")


def _garbage_in_padding(seq: SequenceGroup) -> SequenceGroup:
    noisy = tf.where(seq.mask[:, :, None], seq.sequence, 37.0)
    return SequenceGroup(seq.query, noisy, seq.mask, seq.length)


@functools.cache
def _build(name: str):
    """(name, model, a batch of BATCH sample rows) of a sample config, built once."""
    tf.random.set_seed(3)
    config = load_pipeline_config(_sample(name)).config
    model = build_model(config, SAMPLES)
    reader = build_reader(config.data_config,
                          os.path.join(SAMPLES, "data", "movielens_seq_train.csv"),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(BATCH, num_epochs=1, shuffle=False)))
    return name, model, batch


@pytest.fixture(params=["bst", "dien", "dmr"])
def built(request):
    """(name, model, batch) per sequence sample."""
    return _build(request.param)


@pytest.fixture(params=["dien", "dmr"])
def built_with_aux(request):
    """(name, model, batch) per sequence sample with an auxiliary loss."""
    return _build(request.param)


# ------------------------------------------------------------------ models
def test_padding_never_changes_the_output(built):
    name, model, batch = built
    features = model.feature_layer(batch)
    seq = features.sequence["seq"]
    assert bool(tf.reduce_any(~seq.mask)) and bool(tf.reduce_any(seq.length > 0))
    noisy = _garbage_in_padding(seq)
    if name == "bst":
        tower = model.sequence_towers[0]
        clean = tower(seq.query, seq.sequence, seq.mask)
        dirty = tower(noisy.query, noisy.sequence, noisy.mask)
        assert clean.shape == (BATCH, 21 * 24)
    else:
        tf.random.set_seed(6)  # DIEN's negatives: the same random batch shift both times
        clean = model.interest(seq, training=False, with_aux_loss=True)
        tf.random.set_seed(6)
        dirty = model.interest(noisy, training=False, with_aux_loss=True)
        assert float(clean[1]) == pytest.approx(float(dirty[1]), rel=1e-5)
        clean, dirty = clean[0], dirty[0]
    np.testing.assert_allclose(clean.numpy(), dirty.numpy(), rtol=1e-4, atol=1e-5)


def test_outputs_and_auxiliary_loss(built):
    name, model, batch = built
    outputs = model(batch, training=False)
    assert outputs["probs"].shape == (BATCH,)
    assert AUX_LOSS_KEY not in outputs and AUX_LOSS_KEY not in model.serving_outputs(outputs)
    tf.random.set_seed(5)
    train_outputs = model(batch, training=True)
    if name == "bst":
        assert AUX_LOSS_KEY not in train_outputs
        return
    aux = float(train_outputs[AUX_LOSS_KEY])
    assert np.isfinite(aux) and aux > 0
    task_loss = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(batch["label"], tf.float32), logits=train_outputs["logits"])))
    weight = float(model.params.aux_loss_weight)
    assert float(model.loss(train_outputs, batch)) == pytest.approx(task_loss + weight * aux,
                                                                    rel=1e-5)


def test_auxiliary_loss_gradients_reach_the_sequence_layers(built_with_aux):
    name, model, batch = built_with_aux
    with tf.GradientTape() as tape:
        aux = model(batch, training=True)[AUX_LOSS_KEY]
    layer = model.extractor if name == "dien" else model.user_attention
    grads = tape.gradient(aux, tree_kernels(layer))
    assert all(g is not None and float(tf.norm(g)) > 0 for g in grads)


def test_aux_loss_weight_zero_skips_the_auxiliary_loss():
    config = load_pipeline_config(_sample("dmr"), {"model_config.dmr.aux_loss_weight": 0.0}).config
    model = build_model(config, SAMPLES)
    reader = build_reader(config.data_config,
                          os.path.join(SAMPLES, "data", "movielens_seq_test.csv"),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(8, num_epochs=1, shuffle=False)))
    assert AUX_LOSS_KEY not in model(batch, training=True)


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize("sample, edits, field, words", [
    ("bst", {"model_config.multi_tower.bst_towers[0].input": "nope"}, "seq_att_groups",
     "needs a seq_att_groups entry named 'nope'"),
    ("bst", {"model_config.multi_tower.bst_towers[0].hidden_size": 30}, "hidden_size",
     "multiple of multi_head_size"),
    ("bst", {"model_config.multi_tower.bst_towers[0].activation": "sparkle"}, "activation",
     "unknown activation"),
    ("dien", {"model_config.dien.input": "user"}, "seq_att_groups",
     "needs a seq_att_groups entry named 'user'"),
    ("dien", {"model_config.dien.gru_units": 0}, "gru_units", ">= 1"),
    ("dmr", {"model_config.dmr.aux_loss_weight": -1.0}, "aux_loss_weight", ">= 0"),
    ("dmr", {"model_config.dmr.match_dim": 0}, "match_dim", ">= 1"),
])
def test_config_errors_name_the_field(sample, edits, field, words):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(_sample(sample), edits)
    message = str(info.value)
    assert field in message and words in message and f"{sample}_on_movielens.config:" in message, \
        message


def _load_edited(tmp_path, sample: str, replacements: dict[str, str]):
    text = open(_sample(sample), encoding="utf-8").read()
    for before, after in replacements.items():
        assert before in text
        text = text.replace(before, after)
    path = tmp_path / f"{sample}_on_movielens.config"
    path.write_text(text, encoding="utf-8")
    return load_pipeline_config(str(path))


@pytest.mark.parametrize("sample, tower, other", [
    ("din", 'bst_towers { input: "din" }', "MultiTowerBST"),
    ("bst", 'din_towers { input: "seq" dnn { hidden_units: [1] } }', "MultiTowerDIN"),
])
def test_other_sequence_towers_are_ignored_with_a_warning(tmp_path, caplog, sample, tower, other):
    # EasyRec's MultiTower proto holds every tower kind; each model class reads its own
    _load_edited(tmp_path, sample, {"final_dnn {": f"{tower}\n    final_dnn {{"})
    assert f"model_class {other} does" in caplog.text


def test_sequence_group_without_target_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="needs a key in its seq_att_map"):
        _load_edited(tmp_path, "dien", {
            'seq_att_map { key: "movie_id" hist_seq: "hist_movie_ids" }':
                'seq_att_map { hist_seq: "hist_movie_ids" }',
            'seq_att_map { key: "genre" hist_seq: "hist_genres" }':
                'seq_att_map { hist_seq: "hist_genres" }'})


def test_bst_seq_len_beyond_the_history_fails_at_build():
    config = load_pipeline_config(
        _sample("bst"), {"model_config.multi_tower.bst_towers[0].seq_len": 30}).config
    with pytest.raises(ValueError, match="exceeds the history's max_seq_len 20"):
        build_model(config, SAMPLES)

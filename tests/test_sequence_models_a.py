"""BST, DIEN and DMR: GRU and loss formulas against numpy, mask handling, auxiliary losses,
config errors. (Training, export and serving of the samples: tests/test_model_zoo.py.)"""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES

from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import SequenceGroup
from easy_rec.input.reader import build_reader
from easy_rec.layers.auxiliary_loss import in_batch_match_loss, next_behavior_loss
from easy_rec.layers.gru import GRU
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.builder import build_model
from easy_rec.models.sequence_base import AUX_LOSS_KEY
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.evaluation.evaluator import model_column_plan

BATCH = 64


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _sample(name: str) -> str:
    return os.path.join(SAMPLES, f"{name}_on_movielens.config")


def _garbage_in_padding(seq: SequenceGroup) -> SequenceGroup:
    noisy = tf.where(seq.mask[:, :, None], seq.sequence, 37.0)
    return SequenceGroup(seq.query, noisy, seq.mask, seq.length)


@pytest.fixture(scope="module", params=["bst", "dien", "dmr"])
def built(request):
    """(model, a batch of BATCH sample rows) per sample config."""
    tf.random.set_seed(3)
    config = load_pipeline_config(_sample(request.param)).config
    model = build_model(config, SAMPLES)
    reader = build_reader(config.data_config,
                          os.path.join(SAMPLES, "data", "movielens_seq_train.csv"),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(BATCH, num_epochs=1, shuffle=False)))
    return request.param, model, batch


# ------------------------------------------------------------------ GRU
def test_gru_step_matches_numpy():
    tf.random.set_seed(0)
    gru = GRU(5, 4)
    x, h = tf.random.normal([3, 5]), tf.random.normal([3, 4])
    attention = tf.constant([0.2, 0.5, 1.0])
    w, b = gru.input_kernel.kernel.numpy(), gru.input_kernel.bias.numpy()
    u = gru.recurrent_kernel.kernel.numpy()
    xp, hp = x.numpy() @ w + b, h.numpy() @ u
    update = _sigmoid(xp[:, :4] + hp[:, :4])
    reset = _sigmoid(xp[:, 4:8] + hp[:, 4:8])
    candidate = np.tanh(xp[:, 8:] + reset * hp[:, 8:])
    want = (1 - update) * h.numpy() + update * candidate
    projected = gru.input_kernel(x)
    np.testing.assert_allclose(gru.step(projected, h).numpy(), want, rtol=1e-5, atol=1e-6)
    scaled = update * attention.numpy()[:, None]  # AUGRU: attention scales the update gate
    want_augru = (1 - scaled) * h.numpy() + scaled * candidate
    np.testing.assert_allclose(gru.step(projected, h, attention).numpy(), want_augru,
                               rtol=1e-5, atol=1e-6)


def test_gru_padding_keeps_the_state():
    tf.random.set_seed(1)
    gru = GRU(3, 4)
    sequence = tf.random.normal([3, 5, 3])
    mask = tf.sequence_mask([2, 5, 0], 5)
    attention = tf.random.uniform([3, 5])
    states, final = gru(sequence, mask, attention)
    noisy = tf.where(mask[:, :, None], sequence, 99.0)
    states_noisy, final_noisy = gru(noisy, mask, tf.where(mask, attention, 0.7))
    np.testing.assert_allclose(final.numpy(), final_noisy.numpy(), rtol=1e-6)
    np.testing.assert_allclose(states.numpy(), states_noisy.numpy(), rtol=1e-6)
    np.testing.assert_allclose(final.numpy()[0], states.numpy()[0, 1])  # the last real step
    np.testing.assert_allclose(states.numpy()[0, 2:], np.repeat(states.numpy()[0, 1:2], 3, 0))
    assert not final.numpy()[2].any()  # no real step: the zero initial state
    # the state after 2 real steps equals that of running the first 2 steps alone
    short_states, short_final = gru(sequence[:1, :2], mask[:1, :2], attention[:1, :2])
    np.testing.assert_allclose(short_final.numpy()[0], final.numpy()[0], rtol=1e-5)


# ------------------------------------------------------------------ transformer
def test_transformer_ignores_padding_and_zeroes_it():
    tf.random.set_seed(2)
    encoder = TransformerEncoder(8, num_layers=2, num_heads=2, dropout_ratio=0.5)
    x = tf.random.normal([2, 4, 8])
    mask = tf.sequence_mask([2, 4], 4)
    out = encoder(x, mask).numpy()
    noisy = encoder(tf.where(mask[:, :, None], x, -50.0), mask).numpy()
    np.testing.assert_allclose(out, noisy, rtol=1e-5, atol=1e-5)
    assert not out[0, 2:].any()
    # dropout only in training
    np.testing.assert_allclose(out, encoder(x, mask, training=False).numpy())
    assert not np.allclose(out, encoder(x, mask, training=True).numpy())


# ------------------------------------------------------------------ auxiliary losses
def test_next_behavior_loss_matches_numpy():
    tf.random.set_seed(4)
    sequence = tf.random.normal([2, 4, 3])  # batch 2: the negative row is always the other one
    mask = tf.sequence_mask([4, 3], 4)
    predictions = tf.random.normal([2, 4, 3])
    got = float(next_behavior_loss(predictions, sequence, mask))
    e, p, m = sequence.numpy(), predictions.numpy(), mask.numpy()
    losses = []
    for row in range(2):
        for t in range(3):
            if m[row, t + 1] and m[1 - row, t + 1]:
                pos, neg = p[row, t] @ e[row, t + 1], p[row, t] @ e[1 - row, t + 1]
                losses.append(-np.log(_sigmoid(pos)) - np.log(1 - _sigmoid(neg)))
    assert len(losses) == 4
    assert got == pytest.approx(np.mean(losses), rel=1e-5)
    empty = next_behavior_loss(predictions, sequence, tf.zeros_like(mask))
    assert float(empty) == 0.0


def test_in_batch_match_loss_matches_numpy_and_skips_accidental_hits():
    users = tf.constant([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0]])
    items = tf.constant([[2.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])  # rows 0, 2: one item
    user_valid = tf.constant([True, True, False, True])
    item_valid = tf.constant([True, True, True, False])
    got = float(in_batch_match_loss(users, items, user_valid, item_valid))
    scores = users.numpy() @ items.numpy().T
    # row 0: candidates 0, 1 (2 duplicates its item, 3 invalid); row 1: 0, 1, 2
    want = [-scores[0, 0] + np.log(np.exp(scores[0, [0, 1]]).sum()),
            -scores[1, 1] + np.log(np.exp(scores[1, [0, 1, 2]]).sum())]
    assert got == pytest.approx(np.mean(want), rel=1e-5)


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


def test_auxiliary_loss_gradients_reach_the_sequence_layers(built):
    name, model, batch = built
    if name == "bst":
        pytest.skip("BST has no auxiliary loss")
    with tf.GradientTape() as tape:
        aux = model(batch, training=True)[AUX_LOSS_KEY]
    layer = model.extractor if name == "dien" else model.user_attention
    grads = tape.gradient(aux, layer.kernels())
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
    ("bst", {"model_config.model_class": "MultiTower"}, "bst_towers",
     "need model_class MultiTowerBST"),
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
def test_a_sequence_tower_model_rejects_the_other_towers(tmp_path, sample, tower, other):
    with pytest.raises(ConfigError, match=f"need model_class {other}"):
        _load_edited(tmp_path, sample, {"final_dnn {": f"{tower}\n    final_dnn {{"})


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
